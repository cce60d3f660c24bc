package amxenc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// golden holds bytes printed by GNU as 2.42 (as --64, .intel_syntax
// noprefix; objdump -d -M intel) for registers that set every REX/VEX
// extension bit and the SIB special cases (SP/R12 as base).
var golden = []struct{ text, hex string }{
	{"ldtilecfg [rax]", "c4 e2 78 49 00"},
	{"ldtilecfg [rdi]", "c4 e2 78 49 07"},
	{"ldtilecfg [r8]", "c4 c2 78 49 00"},
	{"ldtilecfg [rsp]", "c4 e2 78 49 04 24"},
	{"ldtilecfg [r12]", "c4 c2 78 49 04 24"},
	{"tilerelease", "c4 e2 78 49 c0"},
	{"tilezero tmm0", "c4 e2 7b 49 c0"},
	{"tilezero tmm3", "c4 e2 7b 49 d8"},
	{"tilezero tmm7", "c4 e2 7b 49 f8"},
	{"tileloadd tmm4,[rsi+rdx*1]", "c4 e2 7b 4b 24 16"},
	{"tileloadd tmm5,[r8+r9*1]", "c4 82 7b 4b 2c 08"},
	{"tileloadd tmm7,[r11+r12*1]", "c4 82 7b 4b 3c 23"},
	{"tileloadd tmm0,[rdi+r12*1]", "c4 a2 7b 4b 04 27"},
	{"tileloadd tmm4,[r11+r10*1]", "c4 82 7b 4b 24 13"},
	{"tileloadd tmm2,[rsp+rax*1]", "c4 e2 7b 4b 14 04"},
	{"tilestored [rdi+rdx*1],tmm0", "c4 e2 7a 4b 04 17"},
	{"tilestored [r10+r9*1],tmm3", "c4 82 7a 4b 1c 0a"},
	{"tilestored [rdi+r10*1],tmm1", "c4 a2 7a 4b 0c 17"},
	{"tdpbusd tmm0,tmm4,tmm5", "c4 e2 51 5e c4"},
	{"tdpbusd tmm3,tmm5,tmm7", "c4 e2 41 5e dd"},
	{"tdpbsud tmm1,tmm2,tmm7", "c4 e2 42 5e ca"},
	{"tdpbssd tmm0,tmm4,tmm5", "c4 e2 53 5e c4"},
	{"tdpbuud tmm7,tmm6,tmm0", "c4 e2 78 5e fe"},
}

var gprNames = []string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

func gpr(s string) (int, error) {
	for i, n := range gprNames {
		if n == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown register %q", s)
}

func tile(s string) (int, error) {
	if !strings.HasPrefix(s, "tmm") || len(s) != 4 || s[3] < '0' || s[3] > '7' {
		return 0, fmt.Errorf("not a tile register: %q", s)
	}
	return int(s[3] - '0'), nil
}

var memRe = regexp.MustCompile(`^\[(\w+)(?:\+(\w+)\*1)?\]$`)

// assemble parses the Intel-syntax forms that the golden table and the
// macro comments use and encodes them.
func assemble(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	op, rest, _ := strings.Cut(text, " ")
	var args []string
	for _, a := range strings.Split(rest, ",") {
		if a = strings.TrimSpace(a); a != "" {
			args = append(args, a)
		}
	}
	mem := func(s string, needIndex bool) (base, index int, err error) {
		m := memRe.FindStringSubmatch(s)
		if m == nil || (m[2] == "") == needIndex {
			return 0, 0, fmt.Errorf("bad memory operand %q", s)
		}
		if base, err = gpr(m[1]); err != nil || !needIndex {
			return base, 0, err
		}
		index, err = gpr(m[2])
		return base, index, err
	}
	want := map[string]int{"ldtilecfg": 1, "tilerelease": 0, "tilezero": 1, "tileloadd": 2, "tilestored": 2,
		"tdpbssd": 3, "tdpbsud": 3, "tdpbusd": 3, "tdpbuud": 3}
	n, ok := want[op]
	if !ok || len(args) != n {
		return nil, fmt.Errorf("cannot assemble %q", text)
	}
	switch op {
	case "ldtilecfg":
		b, _, err := mem(args[0], false)
		if err != nil {
			return nil, err
		}
		return LoadConfig(b), nil
	case "tilerelease":
		return Release(), nil
	case "tilezero":
		t, err := tile(args[0])
		if err != nil {
			return nil, err
		}
		return Zero(t), nil
	case "tileloadd":
		t, err := tile(args[0])
		if err != nil {
			return nil, err
		}
		b, i, err := mem(args[1], true)
		if err != nil {
			return nil, err
		}
		return Load(t, b, i), nil
	case "tilestored":
		t, err := tile(args[1])
		if err != nil {
			return nil, err
		}
		b, i, err := mem(args[0], true)
		if err != nil {
			return nil, err
		}
		return Store(b, i, t), nil
	}
	var r [3]int
	for k := range r {
		var err error
		if r[k], err = tile(args[k]); err != nil {
			return nil, err
		}
	}
	kind := map[string]int{"tdpbssd": SS, "tdpbsud": SU, "tdpbusd": US, "tdpbuud": UU}[op]
	return Dot(kind, r[0], r[1], r[2]), nil
}

func hexBytes(b []byte) string {
	var s []string
	for _, x := range b {
		s = append(s, fmt.Sprintf("%02x", x))
	}
	return strings.Join(s, " ")
}

func TestGolden(t *testing.T) {
	for _, g := range golden {
		b, err := assemble(g.text)
		if err != nil {
			t.Fatal(err)
		}
		if got := hexBytes(b); got != g.hex {
			t.Errorf("%s: encoded %s, GNU as gives %s", g.text, got, g.hex)
		}
	}
}

func TestRejects(t *testing.T) {
	for name, f := range map[string]func(){
		"tile 8":        func() { Zero(8) },
		"SP index":      func() { Load(0, AX, SP) },
		"BP base":       func() { Load(0, BP, AX) },
		"R13 base":      func() { Store(R13, AX, 0) },
		"BP config":     func() { LoadConfig(BP) },
		"register 16":   func() { Load(0, 16, AX) },
		"dot kind":      func() { Dot(4, 0, 1, 2) },
		"negative tile": func() { Dot(US, -1, 1, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// macro is one "// text" + "#define NAME BYTE $0x..; ..." pair of a .s file.
type macro struct {
	name, text string
	bytes      []byte
}

var (
	defineRe = regexp.MustCompile(`^#define (\w+) (BYTE \$0x[0-9a-f]{2}(?:; BYTE \$0x[0-9a-f]{2})*)$`)
	byteRe   = regexp.MustCompile(`\$0x([0-9a-f]{2})`)
)

func readMacros(t *testing.T, path string) []macro {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	var out []macro
	for i, l := range lines {
		m := defineRe.FindStringSubmatch(l)
		if m == nil {
			if strings.HasPrefix(l, "#define") && strings.Contains(l, "BYTE") {
				t.Errorf("%s:%d: BYTE macro not in the checked form: %s", path, i+1, l)
			}
			continue
		}
		if i == 0 || !strings.HasPrefix(lines[i-1], "// ") {
			t.Fatalf("%s:%d: macro %s lacks its instruction comment", path, i+1, m[1])
		}
		var b []byte
		for _, h := range byteRe.FindAllStringSubmatch(m[2], -1) {
			v, _ := strconv.ParseUint(h[1], 16, 8)
			b = append(b, byte(v))
		}
		out = append(out, macro{m[1], strings.TrimPrefix(lines[i-1], "// "), b})
	}
	return out
}

const asmFile = "../../amx_amd64.s"

// TestMacros checks every BYTE macro of the kernel file against the encoder
// and the instruction its comment names.
func TestMacros(t *testing.T) {
	ms := readMacros(t, asmFile)
	if len(ms) < 10 {
		t.Fatalf("found only %d AMX macros in %s", len(ms), asmFile)
	}
	for _, m := range ms {
		b, err := assemble(m.text)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if !bytes.Equal(b, m.bytes) {
			t.Errorf("%s (%s): file has %s, encoder gives %s", m.name, m.text, hexBytes(m.bytes), hexBytes(b))
		}
	}
}

// TestDisassemble has GNU binutils decode the macro bytes, where they are
// installed, and compares the result with each macro's comment.
func TestDisassemble(t *testing.T) {
	asPath, err1 := exec.LookPath("as")
	objdump, err2 := exec.LookPath("objdump")
	if err1 != nil || err2 != nil {
		t.Skip("GNU as/objdump not installed")
	}
	ms := readMacros(t, asmFile)
	var src strings.Builder
	for _, m := range ms {
		src.WriteString(".byte ")
		for i, b := range m.bytes {
			if i > 0 {
				src.WriteString(", ")
			}
			fmt.Fprintf(&src, "0x%02x", b)
		}
		src.WriteString("\n")
	}
	dir := t.TempDir()
	s, o := filepath.Join(dir, "m.s"), filepath.Join(dir, "m.o")
	if err := os.WriteFile(s, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(asPath, "--64", "-o", o, s).CombinedOutput(); err != nil {
		t.Skipf("as cannot assemble here: %v\n%s", err, out)
	}
	out, err := exec.Command(objdump, "-d", "-M", "intel", o).Output()
	if err != nil {
		t.Skipf("objdump failed: %v", err)
	}
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Split(l, "\t")
		if len(f) == 3 && strings.HasSuffix(strings.TrimSpace(f[0]), ":") {
			got = append(got, strings.Join(strings.Fields(f[2]), " "))
		}
	}
	if len(got) != len(ms) {
		t.Fatalf("objdump decoded %d instructions for %d macros:\n%s", len(got), len(ms), out)
	}
	norm := func(s string) string { return strings.ReplaceAll(s, ", ", ",") }
	for i, m := range ms {
		if norm(got[i]) != norm(m.text) {
			t.Errorf("%s: objdump decodes %q, comment says %q", m.name, got[i], m.text)
		}
	}
}
