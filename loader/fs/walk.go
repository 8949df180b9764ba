package fs

import "context"

// walk implements Walk on top of List: depth first, lexical order, a
// folder before its contents.
func walk(ctx context.Context, fsys FS, dir string, fn func(Entry) error) error {
	entries, err := fsys.List(ctx, dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := fn(e); err != nil {
			return err
		}
		if e.IsDir {
			if err := walk(ctx, fsys, e.Path, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
