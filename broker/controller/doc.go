// Package controller holds the cluster controller's decisions as pure
// functions of the metadata it is given: where a new partition's replicas
// go (Place) and what a partition's leader, ISR and eligible leader
// replicas become when the ISR changes or brokers come and go (Change).
// It does no I/O and keeps no clock; the controller loop around it (with
// the Raft-held metadata log, see docs/architecture.md) turns its answers
// into metadata records. The rules are Apache Kafka's KRaft controller's
// with eligible leader replicas (KIP-966) always on and unclean election
// off unless asked for.
package controller
