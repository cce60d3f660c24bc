package mmapmodel_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMemorySpaceIsCompileTime compiles small programs against this
// package and checks that the compiler refuses a host view where a device
// view is required, and accepts it once rebound. The programs are placed
// in the module with go build -overlay, so nothing is written to the
// source tree.
func TestMemorySpaceIsCompileTime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		t.Skip("go command not found:", err)
	}
	pkgDir, err := filepath.Abs("internal/spacecheck")
	if err != nil {
		t.Fatal(err)
	}
	const head = `package spacecheck

import "github.com/speakez/barewire/mmapmodel"

// runOnGPU stands for a kernel that needs device memory.
func runOnGPU(v *mmapmodel.View[float32, mmapmodel.Device]) {}
`
	for _, tc := range []struct {
		name, body, wantErr string
	}{
		{"host view to a device kernel", `
func f(t *mmapmodel.Tensor) {
	v, _ := mmapmodel.NewView[float32](t)
	runOnGPU(v)
}`, "cannot use v (variable of type *mmapmodel.View[float32, mmapmodel.Host]) as *mmapmodel.View[float32, mmapmodel.Device]"},
		{"a space from outside the package", `
type myspace struct{}
var _ *mmapmodel.View[float32, myspace]`, "myspace does not satisfy mmapmodel.Space"},
		{"rebound view", `
func f(t *mmapmodel.Tensor) {
	v, _ := mmapmodel.NewView[float32](t)
	d, _ := mmapmodel.UnsafeRebind[mmapmodel.Device](v)
	runOnGPU(d)
}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "x.go")
			if err := os.WriteFile(src, []byte(head+tc.body+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			overlay := filepath.Join(dir, "overlay.json")
			o := `{"Replace":{"` + filepath.Join(pkgDir, "x.go") + `":"` + src + `"}}`
			if err := os.WriteFile(overlay, []byte(o), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(gobin, "build", "-overlay", overlay, "./internal/spacecheck")
			out, err := cmd.CombinedOutput()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("does not compile: %v\n%s", err, out)
			case tc.wantErr != "" && err == nil:
				t.Fatal("compiled; want a type error")
			case tc.wantErr != "" && !strings.Contains(string(out), tc.wantErr):
				t.Fatalf("compiler said\n%s\nwant %q", out, tc.wantErr)
			}
		})
	}
}
