// Package live swaps the release a running process serves without stopping
// it: a Live holds an atomic pointer to the current Release (an immutable
// set of mapped components and an ID); requests pin the release they start
// with (Acquire), and a swap is one atomic pointer store. The release that
// was replaced is closed (its files unmapped) when its last pin is
// dropped; if that takes longer than the drain timeout an alarm is raised
// and the release stays mapped, because unmapping under a reader is a
// SIGSEGV (reference/ota.md §2.3, §2.5).
//
// Components are reference counted by content key (Mappings), so a
// component that two releases share is mapped once and stays mapped while
// either release lives: an update that changes one block maps one file.
//
// # Pinning granularity
//
// A pin is meant to be held for a whole request: from before the first
// token is computed until the response that depends on the mapped bytes has
// been written. That is simpler than pinning per decode step and it
// guarantees that no response mixes components of two releases; its cost
// is that a long generation keeps the old release mapped until it ends
// (bounded by the drain timeout alarm, never by force).
//
// Acquire and the function it returns do not allocate and take no lock:
// one compare-and-swap on the release's reference count each.
package live
