package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/speakez/barewire/cmd/edge-agent/serve"
	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/update"
)

func init() {
	register(command{name: "bundle", summary: "signed update bundle of a release directory", run: runBundle})
}

const bundleUsage = `usage: edge-agent bundle --keys DIR --model MODEL -o FILE|--publish WWW [--version N] [--release ID]
                         [--expires DURATION] [--only-changed OLD_MODEL]

MODEL is a release directory (manifest.json and one component file per
slot, as mmapmodel's ReleaseWriter writes). Every file is verified, the
release is signed with the keys in DIR (edge-agent keygen) as metadata
version N (default: the current Unix time, so later bundles have higher
versions; devices refuse versions below one they accepted), and written to
FILE with its components. With --only-changed, components that OLD_MODEL
(the release the devices run) already has are left out of the bundle.
The release id defaults to one derived from the manifest's content.
With --publish, the signed metadata and the components are written into the
directory WWW instead, laid out as a static TUF repository that agents
started with --poll URL fetch from any web server.`

func runBundle(args []string, stdout, stderr io.Writer) (err error) {
	defer noPanic(&err)
	fs := flag.NewFlagSet("bundle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, bundleUsage) }
	keys := fs.String("keys", "", "directory of the signing keys")
	model := fs.String("model", "", "release directory to ship")
	out := fs.String("o", "", "bundle file to write")
	version := fs.Int64("version", 0, "metadata version (default: the current Unix time)")
	id := fs.String("release", "", "release id (default: r- and 12 hex digits of the manifest's SHA-256)")
	expires := fs.Duration("expires", 30*24*time.Hour, "how long the signed metadata stays valid")
	onlyChanged := fs.String("only-changed", "", "release directory the devices run: leave its components out")
	publish := fs.String("publish", "", "write a static repository for polling agents into this directory instead of a bundle file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keys == "" || *model == "" || (*out == "") == (*publish == "") || fs.NArg() != 0 {
		return fmt.Errorf("%w: --keys, --model and one of -o and --publish are required\n%s", errUsage, bundleUsage)
	}
	if *version == 0 {
		*version = time.Now().Unix()
	}
	if *version < 1 || *expires <= 0 {
		return fmt.Errorf("%w: --version must be ≥ 1 and --expires positive", errUsage)
	}
	if *id == "" {
		data, err := os.ReadFile(filepath.Join(*model, mmapmodel.ManifestName))
		if err != nil {
			return fmt.Errorf("%s: %w (bundles are built from release directories)", *model, err)
		}
		sum := sha256.Sum256(data)
		*id = "r-" + hex.EncodeToString(sum[:6])
	}
	rel, files, err := serve.ReleaseFromModel(*model, *id)
	if err != nil {
		return err
	}
	if *onlyChanged != "" {
		old, _, err := serve.ReleaseFromModel(*onlyChanged, "old")
		if err != nil {
			return fmt.Errorf("--only-changed: %w", err)
		}
		for _, c := range old.Slots {
			delete(files, c.SHA256)
		}
	}
	if *publish != "" {
		if err := update.PublishDir(*keys, rel, files, *version, time.Now().Add(*expires), *publish); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "published %s: release %s (%s, %d slots, %d component files), metadata version %d\n",
			*publish, rel.ID, rel.Arch, len(rel.Slots), len(files), *version)
		return nil
	}
	if err := update.BuildBundle(*keys, rel, files, *version, time.Now().Add(*expires), *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bundle %s: release %s (%s, %d slots, %d component files carried), metadata version %d\n",
		*out, rel.ID, rel.Arch, len(rel.Slots), len(files), *version)
	return nil
}
