package fs

import (
	"context"
	"fmt"
)

// Open connects to the file system named by a sink URL and returns it with
// the sink's root path inside it.
//
//   - "file:///data/out" or a plain path ("./out", "/data/out"): the local
//     file system; a relative path is made absolute.
//   - "hdfs://host:port/warehouse/x": HDFS, namenode from the URL. With
//     "hdfs:///warehouse/x" (no host) the namenode is fs.defaultFS from
//     core-site.xml in $HADOOP_CONF_DIR. The user is $HADOOP_USER_NAME,
//     else the OS user.
func Open(ctx context.Context, url string) (FS, string, error) {
	return nil, "", fmt.Errorf("fs: open %q: not implemented yet", url)
}
