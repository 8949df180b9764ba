// Package jobs is the scheduler: it runs pipelines (pipelines.Spec) on
// their cron schedules with loader.Run, keeps their run history in a
// compacted topic on the Kafka cluster it uses, and serves the admin API.
//
// It is split as etcd raft splits a node: [Core] is a state machine with
// no I/O and no clock of its own (specs, history and now in; runs to
// start or record and the next wake-up out), tested by the scripts in
// testdata/; [Scheduler] is the runner around it, which watches the
// pipeline folder, keeps the history, takes part in leadership and does
// the loading.
//
// Cron times follow ISC cron across daylight-saving changes (see
// [NewSchedule]), not robfig/cron's scheduler, which skips jobs that fall
// in a spring-forward gap; robfig/cron is used to parse expressions only.
//
// Several schedulers may serve the same pipelines and history topic: one
// leads at a time, chosen through the Kafka group protocol (a group
// subscribed to a one-partition topic; whoever is assigned the partition
// leads), so each tick runs once, against any Kafka cluster.
package jobs
