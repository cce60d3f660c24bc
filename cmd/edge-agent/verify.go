package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/speakez/barewire/mmapmodel"
)

func init() {
	register(command{name: "verify", summary: "check every checksum and byte of a model; exit 0 only if all hold", run: runVerify})
}

// runVerify opens MODEL (checking preambles, headers and the manifest),
// then checks every byte (mmapmodel.Model.VerifyReport). It prints what it
// checked on stdout and each problem on stderr; the exit status is 0 only
// if every check holds, 1 if any fails, 2 for a usage error.
func runVerify(args []string, stdout, stderr io.Writer) (err error) {
	defer noPanic(&err)
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: edge-agent verify MODEL\n\nMODEL is a .bwm file or a release directory. Exit status 0 only if every check holds.")
		fs.PrintDefaults()
	}
	path, err := parseModelArgs(fs, args)
	if err != nil {
		return err
	}
	m, err := mmapmodel.Open(path)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer m.Close()
	if mf := m.Manifest(); mf != nil {
		fmt.Fprintf(stdout, "manifest: %s: format %s v%d, arch %s, %d slots, every component present with the listed size\n",
			path, mf.Format, mf.Version, mf.Arch, len(mf.Components))
	}
	r := m.VerifyReport()
	for _, f := range r.Files {
		fmt.Fprintf(stdout, "file: %s: %d bytes: preamble, header CRC32C, %d tensors' entries, %d data CRC32Cs, all padding zero, ternary codes",
			f.Path, f.Bytes, f.Tensors, f.CRCs)
		if f.SHA256 != "" {
			fmt.Fprintf(stdout, ", sha256 %s", f.SHA256)
		}
		fmt.Fprintln(stdout)
	}
	if len(r.Problems) == 0 {
		fmt.Fprintf(stdout, "ok: %s: every check holds\n", path)
		return nil
	}
	for _, p := range r.Problems {
		fmt.Fprintf(stderr, "problem: %v\n", p)
	}
	more := ""
	if len(r.Problems) > 1 {
		more = fmt.Sprintf(" (and %d more problems above)", len(r.Problems)-1)
	}
	return &exitError{code: 1, err: fmt.Errorf("%w%s", r.Problems[0], more)}
}
