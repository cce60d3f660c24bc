package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func copyFile(t *testing.T, src, dst string) []byte {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyGood(t *testing.T) {
	for _, model := range []string{testModel, testRelease} {
		code, out, errs := runCmd(t, "verify", model)
		if code != 0 || errs != "" {
			t.Fatalf("%s: exit %d: %s", model, code, errs)
		}
		if !strings.Contains(out, "ok: "+model+": every check holds") || !strings.Contains(out, "data CRC32Cs, all padding zero") {
			t.Fatalf("%s: output:\n%s", model, out)
		}
	}
	_, out, _ := runCmd(t, "verify", testRelease)
	if strings.Count(out, "sha256 ") != 3 || !strings.Contains(out, "manifest: ") {
		t.Fatalf("release output:\n%s", out)
	}
}

func TestVerifyCorrupted(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(testModel)
	if err != nil {
		t.Fatal(err)
	}
	hl := int(binary.LittleEndian.Uint32(good[12:]))
	for _, tc := range []struct {
		name   string
		mutate func(b []byte) []byte
		want   []string
	}{
		// hidden.0.weight sits at 10752 (see TestInspectText).
		{"data bit", func(b []byte) []byte { b[10752+100] ^= 4; return b },
			[]string{`tensor "hidden.0.weight": crc: CRC32C of bytes 10752..25088`}},
		{"padding", func(b []byte) []byte { b[32+hl+5] = 1; return b }, []string{"padding: byte"}},
		{"header", func(b []byte) []byte { b[100] ^= 1; return b }, []string{"header_crc:"}},
		{"version", func(b []byte) []byte { b[8] = 7; return b }, []string{"format version 7 is newer than this reader (max 1)"}},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, []string{"data_size:", "truncated"}},
		{"empty", func(b []byte) []byte { return nil }, []string{"preamble: file is 0 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".bwm")
			if err := os.WriteFile(p, tc.mutate(append([]byte(nil), good...)), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, errs := runCmd(t, "verify", p)
			if code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, errs)
			}
			for _, w := range append(tc.want, p) {
				if !strings.Contains(errs, w) {
					t.Fatalf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
}

func TestVerifyCorruptedRelease(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rel")
	if err := os.CopyFS(dir, os.DirFS(testRelease)); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.bwm"))
	// Damage the last byte of one component: same size, different hash.
	var victim string
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "c1b19df6") { // the head slot
			victim = f
		}
	}
	if victim == "" {
		t.Fatal("head component not found; regenerate testdata or update this test")
	}
	b, _ := os.ReadFile(victim)
	b[len(b)-1] ^= 1
	os.WriteFile(victim, b, 0o644)
	code, _, errs := runCmd(t, "verify", dir)
	if code != 1 || !strings.Contains(errs, victim+": sha256: file hashes to") || !strings.Contains(errs, `tensor "labels": crc:`) {
		t.Fatalf("exit %d:\n%s", code, errs)
	}
	os.Remove(victim)
	code, _, errs = runCmd(t, "verify", dir)
	if code != 1 || !strings.Contains(errs, `component file for slot "head" is missing`) {
		t.Fatalf("missing component: exit %d:\n%s", code, errs)
	}
	code, _, errs = runCmd(t, "verify", filepath.Join(dir, "nope"))
	if code != 1 || !strings.Contains(errs, "no such file") {
		t.Fatalf("missing path: exit %d:\n%s", code, errs)
	}
}
