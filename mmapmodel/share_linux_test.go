//go:build linux

package mmapmodel_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
)

// smaps sums the /proc/self/smaps fields (in kB) of every mapping of path.
func smaps(path string) (map[string]int, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = strings.HasSuffix(line, " "+path)
			if in {
				out["mappings"]++
			}
			continue
		}
		if in && len(fields) == 3 && fields[2] == "kB" {
			n, _ := strconv.Atoi(fields[1])
			out[strings.TrimSuffix(fields[0], ":")] += n
		}
	}
	return out, sc.Err()
}

// mapAndTouch opens the model and reads every byte of every tensor
// through a view; it returns the model (still open) and a checksum.
func mapAndTouch(path string) (*mmapmodel.Model, byte, error) {
	m, err := mmapmodel.Open(path)
	if err != nil {
		return nil, 0, err
	}
	var sum byte
	for _, tn := range m.Tensors() {
		v, err := mmapmodel.NewView[uint8](tn)
		if err != nil {
			m.Close()
			return nil, 0, err
		}
		for _, c := range v.Data() {
			sum += c
		}
		v.Release()
	}
	return m, sum, nil
}

const shareChildEnv = "MMAPMODEL_SHARE_CHILD"

// TestPageSharing maps the shipped model in this process and in a child
// (this test binary re-executed), reads every tensor in both, and checks
// in /proc/self/smaps that the pages are shared and clean: two processes
// serving one model pay for its pages once, and nothing copied them.
func TestPageSharing(t *testing.T) {
	if p := os.Getenv(shareChildEnv); p != "" {
		shareChild(p)
		return
	}
	if _, err := os.Stat("/proc/self/smaps"); err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	path, err := filepath.Abs(shippedFile)
	if err != nil {
		t.Fatal(err)
	}
	m, sum, err := mapAndTouch(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	before, _ := smaps(path)

	cmd := exec.Command(os.Args[0], "-test.run=^TestPageSharing$")
	cmd.Env = append(os.Environ(), shareChildEnv+"="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var c struct{ sum, rss, shared, privClean, privDirty int }
	if _, err := fmt.Sscanf(line, "SHARE sum=%d rss=%d shared_clean=%d private_clean=%d private_dirty=%d",
		&c.sum, &c.rss, &c.shared, &c.privClean, &c.privDirty); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	after, err := smaps(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("parent before child: %v", before)
	t.Logf("parent with child:   %v", after)
	t.Logf("child: Rss=%d kB Shared_Clean=%d kB Private_Clean=%d kB Private_Dirty=%d kB", c.rss, c.shared, c.privClean, c.privDirty)
	if byte(c.sum) != sum {
		t.Fatalf("child read checksum %d, parent %d", c.sum, sum)
	}
	if after["mappings"] == 0 || after["Rss"] == 0 {
		t.Fatalf("no resident mapping of %s in smaps: %v", path, after)
	}
	if after["Shared_Clean"] == 0 || c.shared == 0 {
		t.Fatalf("pages not shared: parent %v, child Shared_Clean=%d", after, c.shared)
	}
	if after["Private_Dirty"] != 0 || c.privDirty != 0 {
		t.Fatalf("dirty private pages (a copy was made): parent %d kB, child %d kB", after["Private_Dirty"], c.privDirty)
	}
}

func shareChild(path string) {
	m, sum, err := mapAndTouch(path)
	if err != nil {
		fmt.Println("SHARE error", err)
		os.Exit(1)
	}
	s, _ := smaps(path)
	fmt.Printf("SHARE sum=%d rss=%d shared_clean=%d private_clean=%d private_dirty=%d\n",
		sum, s["Rss"], s["Shared_Clean"], s["Private_Clean"], s["Private_Dirty"])
	io.Copy(io.Discard, os.Stdin) // hold the mapping until the parent has looked
	m.Close()
	os.Exit(0)
}

// TestOpenTouchesOnlyTheHeader: after Open of a 256 MiB model, the
// process has faulted in only a few pages of the mapping (the preamble
// and header, plus the kernel's fault-around), not the data.
func TestOpenTouchesOnlyTheHeader(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps"); err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	p, err := filepath.Abs(zeroModel(t, 256<<20))
	if err != nil {
		t.Fatal(err)
	}
	m := mustOpen(t, p)
	s, err := smaps(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after Open of %d MiB: Size=%d kB Rss=%d kB", m.Files()[0].Size>>20, s["Size"], s["Rss"])
	if s["Size"] < 256<<10 || s["Rss"] > 128 {
		t.Fatalf("Open made %d kB of the %d kB mapping resident", s["Rss"], s["Size"])
	}
}
