package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/sdk"
)

func TestClassifyCommand(t *testing.T) {
	x1, x2 := make([]float32, 784), make([]float32, 784)
	for i := range x1 {
		x1[i], x2[i] = float32(i%256), float32((i*7)%256)
	}
	m, err := sdk.Open(testModel)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := [][]float32{}
	labels := []int{}
	for _, x := range [][]float32{x1, x2} {
		s, l, err := m.Classify(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		want, labels = append(want, s), append(labels, l)
	}
	list, _ := json.Marshal([][]float32{x1, x2})
	path := filepath.Join(t.TempDir(), "in.json")
	os.WriteFile(path, list, 0o644)
	for _, model := range []string{testModel, testRelease} {
		code, out, errs := runCmd(t, "classify", "--model", model, "--input", path)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d lines: %q", len(lines), out)
		}
		for i, line := range lines {
			var got classifyJSON
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatal(err)
			}
			if got.Index != i || got.Label != labels[i] || got.Name != fmt.Sprint(labels[i]) || !slices.Equal(got.Scores, want[i]) {
				t.Fatalf("line %d = %+v, want label %d scores %v", i, got, labels[i], want[i])
			}
		}
	}
	// One vector on standard input.
	one, _ := json.Marshal(x1)
	stdin = strings.NewReader(string(one))
	defer func() { stdin = os.Stdin }()
	code, out, errs := runCmd(t, "classify", "--model", testModel, "--input", "-")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, fmt.Sprintf(`"label":%d`, labels[0])) {
		t.Fatalf("stdin: exit %d out %q err %q", code, out, errs)
	}
}

func TestClassifyCommandErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.json")
	os.WriteFile(short, []byte("[1,2,3]"), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"x": 1}`), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"classify", "--model", testModel}, 2, "--model and --input are required"},
		{[]string{"classify", "--model", testModel, "--input", short}, 1, "input 0: input has 3 values, model takes 784"},
		{[]string{"classify", "--model", testModel, "--input", bad}, 1, "want a JSON array"},
		{[]string{"classify", "--model", testModel, "--input", short, "--backend", "cuda"}, 1, "backend cuda: not available"},
		{[]string{"classify", "--model", filepath.Join(dir, "missing.bwm"), "--input", short}, 1, "no such file"},
	} {
		code, _, errs := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}
