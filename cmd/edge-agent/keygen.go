package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/speakez/barewire/update"
)

func init() {
	register(command{name: "keygen", summary: "signing keys for updates; DIR/root.json is the devices' trust root", run: runKeygen})
}

const keygenUsage = `usage: edge-agent keygen -o DIR

Writes an ed25519 key per TUF role (DIR/{root,targets,snapshot,timestamp}.key,
mode 0600) and the trust root DIR/root.json, which devices are given
(edge-agent serve --trust). Existing keys are never overwritten. Keep the
root and targets keys offline.`

func runKeygen(args []string, stdout, stderr io.Writer) (err error) {
	defer noPanic(&err)
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, keygenUsage) }
	out := fs.String("o", "", "directory for the keys and root.json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: -o DIR is required\n%s", errUsage, keygenUsage)
	}
	if err := update.Keygen(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "keys written to %s; trust root for devices: %s\n", *out, filepath.Join(*out, update.RootName))
	return nil
}
