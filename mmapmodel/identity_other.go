//go:build !unix

package mmapmodel

import "os"

// identity reports that mappings are not shared where the file system's
// identity of a file is not at hand.
func identity(os.FileInfo) (fileKey, bool) { return fileKey{}, false }
