package fs

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strings"

	"github.com/colinmarc/hdfs/v2/hadoopconf"
)

// DefaultNamenodePort is used for hdfs://host/... URLs without a port.
const DefaultNamenodePort = "8020"

// Open connects to the file system named by a sink URL and returns it with
// the sink's root path inside it (slash-separated, absolute, clean).
//
//   - "file:///data/out" or a plain path ("./out", "/data/out"): the local
//     file system; a relative path is made absolute.
//   - "hdfs://host:port/warehouse/x": HDFS, namenode from the URL (port
//     8020 if omitted). With "hdfs:///warehouse/x" (no host) the namenode
//     is fs.defaultFS (or dfs.namenode.rpc-address.*) from the Hadoop
//     configuration in $HADOOP_CONF_DIR (or $HADOOP_HOME/conf). The user
//     is $HADOOP_USER_NAME, else the OS user. Kerberos is not supported.
func Open(ctx context.Context, rawURL string) (FS, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if rawURL == "" {
		return nil, "", fmt.Errorf("fs: empty sink url")
	}
	if !strings.Contains(rawURL, "://") {
		abs, err := filepath.Abs(rawURL)
		if err != nil {
			return nil, "", fmt.Errorf("fs: sink %q: %w", rawURL, err)
		}
		return NewLocal(), filepath.ToSlash(abs), nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("fs: sink url: %w", err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, "", fmt.Errorf("fs: sink %q: file URLs name a local path (file:///path), not host %q", rawURL, u.Host)
		}
		if u.Path == "" {
			return nil, "", fmt.Errorf("fs: sink %q: no path", rawURL)
		}
		return NewLocal(), path.Clean(u.Path), nil
	case "hdfs":
		return openHDFS(u)
	default:
		return nil, "", fmt.Errorf("fs: sink %q: unsupported scheme %q (want file or hdfs)", rawURL, u.Scheme)
	}
}

func openHDFS(u *url.URL) (FS, string, error) {
	root := path.Clean("/" + u.Path)
	var addrs []string
	if u.Host != "" {
		host := u.Host
		if _, _, err := net.SplitHostPort(host); err != nil {
			host = net.JoinHostPort(u.Hostname(), DefaultNamenodePort)
		}
		addrs = []string{host}
	} else {
		conf, err := hadoopconf.LoadFromEnvironment()
		if err != nil {
			return nil, "", fmt.Errorf("fs: sink %s: reading Hadoop configuration: %w", u, err)
		}
		addrs = conf.Namenodes()
		if len(addrs) == 0 {
			return nil, "", fmt.Errorf("fs: sink %s: no namenode in the URL and none in $HADOOP_CONF_DIR (fs.defaultFS); write hdfs://host:port/path", u)
		}
	}
	userName, err := hadoopUser()
	if err != nil {
		return nil, "", fmt.Errorf("fs: sink %s: %w", u, err)
	}
	h, err := NewHDFS(HDFSOptions{Addresses: addrs, User: userName})
	if err != nil {
		return nil, "", err
	}
	return h, root, nil
}

// hadoopUser is $HADOOP_USER_NAME, else the OS user.
func hadoopUser() (string, error) {
	if u := os.Getenv("HADOOP_USER_NAME"); u != "" {
		return u, nil
	}
	u, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("no HADOOP_USER_NAME and no OS user: %w", err)
	}
	return u.Username, nil
}
