package meta

import (
	"errors"
	"strings"
	"testing"
)

func TestClusterConfig(t *testing.T) {
	const voters = "1@127.0.0.1:9093,2@127.0.0.2:9093,3@127.0.0.3:9093"
	combined := map[string]string{"process.roles": "broker,controller", "node.id": "2", "controller.quorum.voters": voters,
		"controller.listener.names": "CONTROLLER", "listeners": "PLAINTEXT://127.0.0.2:9092,CONTROLLER://127.0.0.2:9093", "broker.rack": "r2"}
	with := func(kv map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range combined {
			m[k] = v
		}
		for k, v := range kv {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	bc, err := ParseBrokerConfig(combined)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := bc.Cluster()
	if err != nil {
		t.Fatal(err)
	}
	if !cc.Broker || !cc.Controller || cc.NodeID != 2 || len(cc.Voters) != 3 || cc.Voters[2] != (Voter{3, "127.0.0.3:9093"}) ||
		cc.ControllerListener.Addr() != "127.0.0.2:9093" || cc.ClientListener.Addr() != "127.0.0.2:9092" || cc.Rack != "r2" || !cc.Clustered() {
		t.Errorf("cluster config %+v", cc)
	}
	if cc, err := DefaultBrokerConfig().Cluster(); err != nil || cc.Clustered() {
		t.Errorf("defaults: %+v %v, want a single node", cc, err)
	}
	broker, err := ParseBrokerConfig(map[string]string{"process.roles": "broker", "node.id": "7", "controller.quorum.bootstrap.servers": "127.0.0.1:9093", "controller.listener.names": "CONTROLLER"})
	if err != nil {
		t.Fatal(err)
	}
	if cc, err := broker.Cluster(); err != nil || cc.Controller || !cc.Broker || len(cc.Bootstrap) != 1 {
		t.Errorf("broker-only: %+v %v", cc, err)
	}
	for _, c := range []struct {
		kv   map[string]string
		want string
	}{
		{with(map[string]string{"controller.quorum.voters": "1@127.0.0.1:9093,3@127.0.0.3:9093"}), "node.id=2 is a controller (process.roles=broker,controller) but not one of controller.quorum.voters"},
		{with(map[string]string{"controller.quorum.voters": "x@127.0.0.1:9093"}), `"x@127.0.0.1:9093" is not id@host:port`},
		{with(map[string]string{"controller.quorum.voters": "1@127.0.0.1"}), `"127.0.0.1" is not host:port`},
		{with(map[string]string{"controller.quorum.voters": "2@a:1,2@b:1"}), "node id 2 is listed twice"},
		{with(map[string]string{"controller.quorum.voters": ""}), "needs controller.quorum.voters"},
		{with(map[string]string{"controller.quorum.bootstrap.servers": "a:1"}), "not both"},
		{with(map[string]string{"controller.listener.names": ""}), "needs controller.listener.names"},
		{with(map[string]string{"controller.listener.names": "CTL"}), "controller.listener.names=CTL names no listener"},
		{with(map[string]string{"listeners": "CONTROLLER://127.0.0.2:9093"}), "a broker needs one client listener"},
		{with(map[string]string{"process.roles": "broker"}), "node.id=2 is one of controller.quorum.voters but process.roles=broker has no controller"},
		{with(map[string]string{"process.roles": "broker,zookeeper"}), "process.roles"},
		{map[string]string{"controller.quorum.voters": voters}, "need process.roles"},
	} {
		_, err := ParseBrokerConfig(c.kv)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an ErrInvalidConfig mentioning %q", c.kv, err, c.want)
		}
	}
}
