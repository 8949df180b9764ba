package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
)

// ListGroups lists the consumer groups, sorted by name; with states, only
// the groups in those states (Empty, Stable, PreparingRebalance,
// CompletingRebalance, Dead).
func (a *Admin) ListGroups(ctx context.Context, states ...string) ([]kadm.ListedGroup, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	listed, err := a.adm.ListGroups(ctx, states...)
	if err != nil {
		return nil, a.cluster.requestErr("list groups", err)
	}
	return listed.Sorted(), nil
}

// DescribeGroups describes the named groups with their members, committed
// offsets, log end offsets and lag. It returns the groups it could describe
// by name, and an error naming each of the others. Some clusters describe a
// group that does not exist as Dead with no lag rather than as an error.
func (a *Admin) DescribeGroups(ctx context.Context, names ...string) (map[string]kadm.DescribedGroupLag, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	lags, err := a.adm.Lag(ctx, names...)
	if err != nil {
		return nil, a.cluster.requestErr("describe groups", err)
	}
	out := make(map[string]kadm.DescribedGroupLag, len(names))
	var errs []error
	for _, name := range names {
		l, ok := lags[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("group %q: no answer", name))
		case l.Error() != nil:
			errs = append(errs, fmt.Errorf("group %q: %w", name, l.Error()))
		default:
			out[name] = l
		}
	}
	return out, errors.Join(errs...)
}

// DeleteGroups deletes the named groups, which must be empty, with their
// committed offsets; the error names each group that was not deleted.
func (a *Admin) DeleteGroups(ctx context.Context, names ...string) error {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	resps, err := a.adm.DeleteGroups(ctx, names...)
	if err != nil {
		return a.cluster.requestErr("delete groups", err)
	}
	var errs []error
	for _, g := range names {
		if r, ok := resps[g]; !ok {
			errs = append(errs, fmt.Errorf("group %q: no answer", g))
		} else if r.Err != nil {
			errs = append(errs, fmt.Errorf("group %q: %w", g, r.Err))
		}
	}
	return errors.Join(errs...)
}
