// Package serve is edge-agent's HTTP server: OpenAI-shaped completions and
// chat (streamed as server-sent events), classification, health,
// Prometheus metrics, and an admin API that applies signed update bundles
// while the model keeps serving. The inference behind it is an Engine,
// handed the release each request pinned (update/live), so a response is
// always computed from one release's components, whatever swaps happen
// meanwhile; every response names that release (system_fingerprint and
// the X-Barewire-Release header).
//
// Requests run on a bounded pool of workers (Config.Concurrency) with a
// bounded queue (429 beyond it); bodies are size-limited (413); malformed
// JSON is a 400 naming the field; a client that goes away cancels its
// generation, and so does one that stops reading a stream for
// Config.StreamWriteTimeout (30 s by default). Admin endpoints need the admin token (constant-time compare)
// on the TCP listener, or come through AdminHandler on a unix socket. Run
// tells systemd when the first release is serving (READY=1), pets the
// watchdog, and drains in-flight requests at shutdown.
package serve
