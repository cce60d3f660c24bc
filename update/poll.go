package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

var errNotFound = errors.New("not found")

// Poll fetches the signed metadata of the repository at baseURL (a plain
// static file server laid out by PublishDir), verifies it as OpenBundle
// does, and if it names a release that is neither current nor pending,
// downloads the components the store lacks (each streamed into the store,
// bounded by and hashed against its signed target) and stages the
// release. It returns the release and whether it was staged.
//
// go-tuf's updater is not used for the download: it reads a whole target
// into memory and does not fsync its cache (go-tuf issue #689;
// reference/ota.md §1.2). Its TrustedMetadata does the verification.
func (s *Store) Poll(ctx context.Context, client *http.Client, baseURL string, trustedRoot []byte) (*ReleaseManifest, bool, error) {
	if client == nil {
		client = http.DefaultClient
	}
	base, err := url.Parse(strings.TrimSuffix(baseURL, "/") + "/")
	if err != nil {
		return nil, false, fmt.Errorf("poll: base URL %q: %w", baseURL, err)
	}
	get := func(name string) (io.ReadCloser, error) {
		u := base.ResolveReference(&url.URL{Path: name})
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("poll: GET %s: %w", name, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				return nil, fmt.Errorf("poll: GET %s: %s: %w", name, resp.Status, errNotFound)
			}
			return nil, fmt.Errorf("poll: GET %s: %s", name, resp.Status)
		}
		return resp.Body, nil
	}
	// getSmall reads at most limit bytes; a longer body is refused without
	// reading it all (TUF's endless-data attack).
	getSmall := func(name string, limit int64) ([]byte, error) {
		body, err := get(name)
		if err != nil {
			return nil, err
		}
		defer body.Close()
		data, err := io.ReadAll(io.LimitReader(body, limit+1))
		if err != nil {
			return nil, fmt.Errorf("poll: GET %s: %w", name, err)
		}
		if int64(len(data)) > limit {
			return nil, fmt.Errorf("poll: %s: longer than %d bytes: %w", name, limit, ErrLength)
		}
		return data, nil
	}
	opt, err := s.verifyOptions(trustedRoot)
	if err != nil {
		return nil, false, err
	}
	// Walk root versions up from the trusted one until the repository has
	// no next one (client workflow 5.3).
	var roots [][]byte
	cur, err := rootVersion(opt.TrustedRoot)
	if err != nil {
		return nil, false, tufErr("trusted root", err)
	}
	for len(roots) < MaxRootRotations {
		data, err := getSmall(rootEntryName(cur+1), MaxRootSize)
		if errors.Is(err, errNotFound) {
			break
		}
		if err != nil {
			return nil, false, err
		}
		roots = append(roots, data)
		cur++
	}
	var meta [3][]byte
	for i, f := range []struct {
		name  string
		limit int64
	}{{timestampEntry, MaxTimestampSize}, {snapshotEntry, MaxSnapshotSize}, {targetsEntry, MaxTargetsSize}} {
		if meta[i], err = getSmall(f.name, f.limit); err != nil {
			return nil, false, err
		}
	}
	vr, err := verifyMetadata(opt, roots, meta[0], meta[1], meta[2], func(name string, info *metadata.TargetFiles) ([]byte, error) {
		return getSmall(name, info.Length)
	})
	if err != nil {
		return nil, false, fmt.Errorf("poll %s: %w", baseURL, err)
	}
	m := vr.release
	st, err := s.State()
	if err != nil {
		return nil, false, err
	}
	if st.IsBad(m.ID) {
		return m, false, fmt.Errorf("poll: release %q: %w", m.ID, ErrBadRelease)
	}
	if m.ID == st.Current || m.ID == st.Pending {
		// Nothing to install, but the versions just verified become the
		// floor: older metadata (naming a release since withdrawn) must
		// not be accepted later.
		return m, false, s.recordVersions(vr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var written []string
	err = func() error {
		for _, c := range m.Objects() {
			if _, serr := s.fs.Stat(s.ObjectPath(c.SHA256)); serr == nil {
				continue // verified in finishInstall
			}
			body, err := get(objectPrefix + c.ObjectName())
			if err != nil {
				return err
			}
			wrote, err := s.addComponent(body, c)
			body.Close()
			if wrote {
				written = append(written, c.SHA256)
			}
			if err != nil {
				return fmt.Errorf("poll: release %q: %w", m.ID, err)
			}
		}
		return s.finishInstall(vr)
	}()
	if err != nil {
		s.removeUnreferenced(written)
		return nil, false, err
	}
	return m, true, nil
}

// recordVersions stores the metadata versions of vr (and its rotated root,
// first) when they move the state's, which they were verified against.
func (s *Store) recordVersions(vr *verifiedRelease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.loadState()
	if err != nil {
		return err
	}
	if st.Versions == vr.versions || st.Versions != vr.seen {
		return nil // nothing new, or another install moved them meanwhile
	}
	if err := s.storeRoot(vr); err != nil {
		return err
	}
	st.Versions = vr.versions
	return s.saveState(StepStatePending, st)
}
