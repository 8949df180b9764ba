// Package replica tracks, on a partition's leader, how far each replica
// has read: it derives the high watermark and says which followers the ISR
// should drop or take back, as Apache Kafka's Partition does on its
// leader, with the strict min.insync.replicas of KIP-966 (the high
// watermark does not move while the ISR is below it). It is a state
// machine with no I/O and no clock of its own: the caller reports fetches
// and appends with the time they happened, and sends the ISR changes it
// proposes to the controller (AlterPartition); the ISR only changes here
// when the controller's decision comes back (SetISR).
package replica
