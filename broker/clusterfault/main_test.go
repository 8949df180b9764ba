package clusterfault_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any leave a goroutine running
// (sarama's process-wide metrics meter aside, which it never stops), and
// removes the sluice binary the tests built.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		goleak.Cleanup(func(code int) {
			if sluiceBin.dir != "" {
				os.RemoveAll(sluiceBin.dir)
			}
			os.Exit(code)
		}))
}
