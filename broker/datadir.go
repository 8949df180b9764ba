package broker

// Files in the data directory besides the logs and the metadata journal:
// the directory lock, the cluster id, and atomic small-file writes.

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sluicehq/sluice/broker/log/vfs"
)

// writeFileSync replaces path atomically and durably through fs: the new
// content is fsynced, renamed over the old, and the folder fsynced, so a
// machine crash leaves either the old or the new file, never a missing one
// or an older one. On failure the temporary file is removed, so a full disk
// keeps no half-written copy.
func writeFileSync(fs vfs.FS, path string, b []byte) error {
	return vfs.WriteFileAtomic(fs, path, b, true)
}

// loadClusterID reads the cluster id at path, creating one (22 characters of
// URL-safe base64 from 16 random bytes, as Kafka's) on first start.
func loadClusterID(fs vfs.FS, path string) (string, error) {
	b, err := vfs.ReadFile(fs, path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if id == "" {
			return "", fmt.Errorf("cluster id file %s is empty", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := writeFileSync(fs, path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("cluster id: %w", err)
	}
	return id, nil
}

// lockDataDir takes an exclusive lock on the data directory (flock(2) on
// <dir>/.lock with the OS file system) so two brokers never share one.
func lockDataDir(fs vfs.FS, dir string) (io.Closer, error) {
	path := filepath.Join(dir, ".lock")
	l, err := fs.Lock(path)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, fmt.Errorf("data dir %s is in use by another broker (%w)", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return l, nil
}
