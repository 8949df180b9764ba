package broker_test

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/brokertest"
)

// TestListenAllInterfacesAdvertisesHostname: --listen :PORT (0.0.0.0, ::)
// must not tell clients to connect to "::"; the broker advertises the
// machine's hostname, and refuses to start if it has none to give.
func TestListenAllInterfacesAdvertisesHostname(t *testing.T) {
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.LookupHost(hostname); err != nil {
		t.Fatalf("this machine's hostname %q does not resolve (%v): the test needs it in /etc/hosts", hostname, err)
	}
	for _, listen := range []string{":0", "0.0.0.0:0", "[::]:0"} {
		t.Run(listen, func(t *testing.T) {
			srv := brokertest.Start(t, brokertest.WithListen(listen))
			_, port, _ := net.SplitHostPort(srv.Addr())
			adm := kadm.NewClient(newClient(t, net.JoinHostPort("127.0.0.1", port)))
			md, err := adm.BrokerMetadata(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(md.Brokers) != 1 {
				t.Fatalf("brokers %+v", md.Brokers)
			}
			b := md.Brokers[0]
			if b.Host != hostname || strconv.Itoa(int(b.Port)) != port {
				t.Fatalf("metadata advertises %s:%d for --listen %s, want %s:%s", b.Host, b.Port, listen, hostname, port)
			}
		})
	}

	t.Run("advertised listener wins", func(t *testing.T) {
		srv := brokertest.Start(t, brokertest.WithListen(":0"), brokertest.WithAdvertisedListener("kafka.example:19092"))
		_, port, _ := net.SplitHostPort(srv.Addr())
		md, err := kadm.NewClient(newClient(t, net.JoinHostPort("127.0.0.1", port))).BrokerMetadata(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if b := md.Brokers[0]; b.Host != "kafka.example" || b.Port != 19092 {
			t.Fatalf("metadata advertises %s:%d, want kafka.example:19092", b.Host, b.Port)
		}
	})

	t.Run("no hostname", func(t *testing.T) {
		cfg := broker.DefaultConfig()
		cfg.DataDir, cfg.Listen, cfg.HTTP = t.TempDir(), ":0", ""
		_, err := broker.New(cfg, broker.Options{Hostname: func() (string, error) {
			return "", errors.New("uname: no hostname set")
		}})
		if err == nil || !strings.Contains(err.Error(), "--advertised-listener") || !strings.Contains(err.Error(), "no hostname set") {
			t.Fatalf("New on :0 without a hostname: %v, want an error asking for --advertised-listener", err)
		}
		// The refused server let go of its port and data dir.
		brokertest.Start(t, brokertest.WithDir(cfg.DataDir))
	})
}
