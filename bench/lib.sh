# shellcheck shell=bash
# Sourced by the bench/ scripts: recording one measurement, and reading a
# process's CPU time and peak memory from /proc.
#
#   emit GROUP SCENARIO SYSTEM ROUND KEY=VALUE...
#       appends one JSON line to $BENCH_OUT (bench/report.py turns the
#       lines into bench/RESULTS.md); VALUEs are numbers
#   jget FILE FIELD       a field of the JSON object in FILE
#   cpu_ticks PID         utime + stime of PID, in clock ticks
#   ticks_s TICKS         TICKS in seconds
#   hwm_reset PID         restarts PID's peak-RSS counter (VmHWM)
#   hwm_mb PID            PID's peak RSS since the last reset, in MB

_bench_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLK_TCK=$(getconf CLK_TCK)

emit() {
  python3 "$_bench_lib/report.py" emit "${BENCH_OUT:?BENCH_OUT is not set}" "$@"
}

jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

cpu_ticks() {
  local f
  read -ra f <"/proc/$1/stat"
  # Fields 14 and 15 (utime, stime); the command name (field 2) holds no
  # spaces for the processes measured here (sluice, java).
  echo $((f[13] + f[14]))
}

ticks_s() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", t / hz }'; }

# Writing 5 to clear_refs resets the peak resident set size (Linux >= 4.0).
hwm_reset() { echo 5 >"/proc/$1/clear_refs"; }

hwm_mb() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
