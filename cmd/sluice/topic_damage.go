package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/sluicehq/sluice/client"
)

// writeDamage prints a topic's damaged ranges after its partition table.
func writeDamage(w io.Writer, ps []client.PartitionDamage) error {
	if len(ps) == 0 {
		return nil
	}
	fmt.Fprintln(w, "Damaged data (kept on disk; fetches of these offsets answer CORRUPT_MESSAGE, seek past them):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tBROKER\tSEGMENT\tBYTES\tOFFSETS\tFOUND-BY\tREASON")
	for _, p := range ps {
		for _, r := range p.Ranges {
			offsets := fmt.Sprintf("%d-%d", r.FirstOffset, r.LastOffset)
			if r.Offsets() == 0 {
				offsets = "none"
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%d-%d\t%s\t%s\t%s\n", p.Partition, p.Broker, r.File(), r.Start, r.End, offsets, r.FoundBy, r.Reason)
		}
	}
	return tw.Flush()
}
