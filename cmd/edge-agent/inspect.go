package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/speakez/barewire/mmapmodel"
)

func init() {
	register(command{name: "inspect", summary: "print a model's header, components and tensors", run: runInspect})
}

// parseModelArgs parses flags placed before or after the one MODEL
// argument (the flag package stops at the first non-flag).
func parseModelArgs(fs *flag.FlagSet, args []string) (string, error) {
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	var pos []string
	for fs.NArg() > 0 {
		pos = append(pos, fs.Arg(0))
		if err := parseFlags(fs, fs.Args()[1:]); err != nil {
			return "", err
		}
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("%w: want exactly one MODEL (a .bwm file or a release directory), got %d arguments", errUsage, len(pos))
	}
	return pos[0], nil
}

// noPanic turns a panic into an error, so that a bug met on bad input is
// reported as one line rather than a stack trace.
func noPanic(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("internal error: %v (please report it with the model file)", r)
	}
}

// The JSON form of inspect. Field names are stable; documented in
// docs/FORMAT.md ("edge-agent inspect --json"). New fields may be added.
type inspectJSON struct {
	Path       string          `json:"path"`
	Kind       string          `json:"kind"`
	Arch       string          `json:"arch"`
	Params     []paramJSON     `json:"params"`
	Files      []fileJSON      `json:"files"`
	Components []componentJSON `json:"components"`
	Tensors    []tensorJSON    `json:"tensors"`
}

type paramJSON struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

type fileJSON struct {
	Path          string `json:"path"`
	Kind          string `json:"kind"`
	FormatVersion int    `json:"format_version"`
	Size          int64  `json:"size"`
	HeaderLength  int64  `json:"header_length"`
	DataStart     int64  `json:"data_start"`
	SHA256        string `json:"sha256,omitempty"`
}

type componentJSON struct {
	Slot    string   `json:"slot"`
	File    string   `json:"file"`
	Tensors []string `json:"tensors"`
}

type tensorJSON struct {
	Name         string  `json:"name"`
	Slot         string  `json:"slot"`
	DType        string  `json:"dtype"`
	Layout       string  `json:"layout"`
	Shape        []int64 `json:"shape"`
	Offset       int64   `json:"offset"`
	Bytes        int64   `json:"bytes"`
	CRC32C       string  `json:"crc32c"`
	Scale        float32 `json:"scale"`
	ScalesOffset int64   `json:"scales_offset,omitempty"`
	ScalesBytes  int64   `json:"scales_bytes,omitempty"`
	ScalesCRC32C string  `json:"scales_crc32c,omitempty"`
}

func describe(m *mmapmodel.Model) inspectJSON {
	out := inspectJSON{Path: m.Path(), Kind: string(m.Kind()), Arch: m.Arch(),
		Params: []paramJSON{}, Files: []fileJSON{}, Components: []componentJSON{}, Tensors: []tensorJSON{}}
	for _, p := range m.Params() {
		out.Params = append(out.Params, paramJSON{Key: p.Key, Type: string(p.Type), Value: p.Value()})
	}
	for _, f := range m.Files() {
		out.Files = append(out.Files, fileJSON{Path: f.Path, Kind: string(f.Kind), FormatVersion: f.Version,
			Size: int64(f.Size), HeaderLength: int64(f.HeaderLength), DataStart: int64(f.DataStart), SHA256: f.SHA256})
	}
	for _, c := range m.Components() {
		cj := componentJSON{Slot: c.Slot, File: c.File.Path, Tensors: []string{}}
		for _, t := range c.Tensors {
			cj.Tensors = append(cj.Tensors, t.Name)
		}
		out.Components = append(out.Components, cj)
	}
	for _, t := range m.Tensors() {
		tj := tensorJSON{Name: t.Name, Slot: t.Slot, DType: string(t.DType), Layout: t.Layout,
			Offset: int64(t.Offset), Bytes: int64(t.Length), CRC32C: fmt.Sprintf("%08x", t.CRC), Scale: t.Scale}
		for _, d := range t.Shape {
			tj.Shape = append(tj.Shape, int64(d))
		}
		if t.ScalesLength != 0 {
			tj.ScalesOffset, tj.ScalesBytes, tj.ScalesCRC32C = int64(t.ScalesOffset), int64(t.ScalesLength), fmt.Sprintf("%08x", t.ScalesCRC)
		}
		out.Tensors = append(out.Tensors, tj)
	}
	return out
}

func runInspect(args []string, stdout, stderr io.Writer) (err error) {
	defer noPanic(&err)
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON (stable field names, see docs/FORMAT.md)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: edge-agent inspect MODEL [--json]\n\nMODEL is a .bwm file or a release directory. Reads only headers; run verify to check the data.")
		fs.PrintDefaults()
	}
	path, err := parseModelArgs(fs, args)
	if err != nil {
		return err
	}
	m, err := mmapmodel.Open(path)
	if err != nil {
		return err
	}
	defer m.Close()
	d := describe(m)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	}
	fmt.Fprintf(stdout, "model:  %s\nkind:   %s\narch:   %s\n", d.Path, d.Kind, d.Arch)
	if len(d.Params) > 0 {
		fmt.Fprintln(stdout, "params:")
		for _, p := range d.Params {
			fmt.Fprintf(stdout, "  %s = %v (%s)\n", p.Key, p.Value, p.Type)
		}
	}
	fmt.Fprintln(stdout, "files:")
	for _, f := range d.Files {
		fmt.Fprintf(stdout, "  %s  %s, format v%d, %d bytes, header %d bytes, data at %d", f.Path, f.Kind, f.FormatVersion, f.Size, f.HeaderLength, f.DataStart)
		if f.SHA256 != "" {
			fmt.Fprintf(stdout, ", sha256 %s", f.SHA256)
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintln(stdout, "components:")
	for _, c := range d.Components {
		fmt.Fprintf(stdout, "  %-12s %d tensors\n", c.Slot, len(c.Tensors))
	}
	fmt.Fprintln(stdout, "tensors:")
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tSLOT\tDTYPE\tLAYOUT\tSHAPE\tBYTES\tOFFSET\tSCALE\tCRC32C")
	for _, t := range d.Tensors {
		shape := make([]string, len(t.Shape))
		for i, s := range t.Shape {
			shape[i] = fmt.Sprint(s)
		}
		layout := t.Layout
		if layout == "" {
			layout = "-"
		}
		scale := "-"
		if t.Scale != 0 {
			scale = fmt.Sprint(t.Scale)
		}
		if t.ScalesBytes != 0 {
			scale = fmt.Sprintf("rows@%d", t.ScalesOffset)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t[%s]\t%d\t%d\t%s\t%s\n", t.Name, t.Slot, t.DType, layout, strings.Join(shape, " "), t.Bytes, t.Offset, scale, t.CRC32C)
	}
	return tw.Flush()
}
