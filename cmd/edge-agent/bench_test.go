package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchKernelsJSON(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"bench", "kernels", "--json", "--threads", "1", "--filter", "decode_t2_4096", "--big-mib", "0", "--bw-mib", "16"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for _, f := range []string{"case", "tier", "threads", "weight_bytes", "gbps", "read_bw_gbps", "ratio", "gweights_per_s"} {
			if _, ok := m[f]; !ok {
				t.Errorf("line %q lacks %q", sc.Text(), f)
			}
		}
		if c, _ := m["case"].(string); !strings.HasPrefix(c, "decode") {
			t.Errorf("case %q", c)
		}
		if m["weight_bytes"].(float64) != 4096*1024 || m["gbps"].(float64) <= 0 || m["read_bw_gbps"].(float64) <= 0 {
			t.Errorf("implausible line %q", sc.Text())
		}
		n++
	}
	if n == 0 {
		t.Fatal("no results")
	}
}

func TestBenchModes(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"bench"}, 2, "missing mode"},
		{[]string{"bench", "gpu"}, 2, "unknown mode"},
		{[]string{"bench", "model"}, 2, "give exactly one of --model and --synthetic"},
		{[]string{"bench", "model", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"bench", "kernels", "--tiers", "sse9"}, 2, "unknown tier"},
		{[]string{"bench", "kernels", "--filter", "nothing-like-this"}, 2, "matches no case"},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		codeOK := code == c.code || (c.code == -1 && code != 0)
		if !codeOK || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d (-1: any failure) mentioning %q", c.args, code, errb.String(), c.code, c.msg)
		}
	}
}
