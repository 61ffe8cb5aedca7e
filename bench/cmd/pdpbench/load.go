package main

import (
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/bojand/ghz/runner"
	"github.com/jhump/protoreflect/desc"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// checkMethod is the gRPC method both gRPC servers implement.
const checkMethod = "pdp.v1.DecisionService.Check"

// loadSpec is one load run: closed loop when rate is 0, else a fixed
// arrival rate per second; always at most conc requests in flight.
type loadSpec struct {
	rate     int
	duration time.Duration
	conc     int
}

// result is what one load run measured.
type result struct {
	system, run string
	target      int // offered rate; 0 for closed loop
	requests    int
	errors      int
	elapsed     time.Duration
	latencies   []time.Duration // of successful requests, sorted
	firstError  string
	cpu         time.Duration // server CPU during the run, user and system
	sysCPU      time.Duration // of which in the kernel
	genCPU      time.Duration // load generator (this process) CPU during the run
	rss         int64         // server peak RSS after the run
}

// rps is the achieved throughput of successful requests.
func (r *result) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests-r.errors) / r.elapsed.Seconds()
}

// pct is the q-quantile latency (nearest rank).
func (r *result) pct(q float64) time.Duration { return nearestRank(r.latencies, q) }

// nearestRank is the q-quantile of sorted latencies by nearest rank; 0 for
// none.
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// genLoad is the load generator's CPU use over the run, in percent of
// one cpu: near 100 means the generator, not the server, set the pace.
func (r *result) genLoad() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return 100 * r.genCPU.Seconds() / r.elapsed.Seconds()
}

// cpuPerDecision is server CPU time per completed request.
func (r *result) cpuPerDecision() time.Duration {
	if n := r.requests - r.errors; n > 0 {
		return r.cpu / time.Duration(n)
	}
	return 0
}

// protoset is the FileDescriptorSet of decision.proto and its imports,
// which ghz needs to describe the method; it comes from the descriptors
// compiled into pdp's generated code, so it cannot drift from them.
func protoset() ([]byte, error) {
	var set descriptorpb.FileDescriptorSet
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imps := fd.Imports()
		for i := range imps.Len() {
			add(imps.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(pdpv1.File_pdp_v1_decision_proto)
	return proto.Marshal(&set)
}

// runGRPC drives a Check server with ghz's runner over one connection,
// rotating through the workload's pre-encoded requests.
func runGRPC(addr string, w *workload, pset []byte, spec loadSpec) (*result, error) {
	var next atomic.Uint64
	opts := []runner.Option{
		runner.WithProtosetBinary(pset),
		runner.WithInsecure(true),
		runner.WithConnections(1),
		runner.WithConcurrency(uint(spec.conc)),
		runner.WithRunDuration(spec.duration),
		runner.WithDurationStopAction("wait"),
		runner.WithTimeout(5 * time.Second),
		runner.WithCPUs(1),
		runner.WithBinaryDataFunc(func(*desc.MethodDescriptor, *runner.CallData) []byte {
			return w.wire[(next.Add(1)-1)%uint64(len(w.wire))]
		}),
	}
	if spec.rate > 0 {
		opts = append(opts, runner.WithRPS(uint(spec.rate)))
	}
	rep, err := runner.Run(checkMethod, addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("ghz: %w", err)
	}
	res := &result{target: spec.rate, requests: int(rep.Count), elapsed: rep.Total}
	for _, d := range rep.Details {
		if d.Error != "" {
			res.errors++
			if res.firstError == "" {
				res.firstError = d.Error
			}
			continue
		}
		res.latencies = append(res.latencies, d.Latency)
	}
	slices.Sort(res.latencies)
	return res, nil
}

// runHTTP drives OPA's REST API with vegeta's attacker: a fixed arrival
// rate, or as fast as conc workers go when spec.rate is 0.
func runHTTP(url string, w *workload, spec loadSpec) (*result, error) {
	var next atomic.Uint64
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	targeter := func(t *vegeta.Target) error {
		t.Method, t.URL, t.Header = http.MethodPost, url, hdr
		t.Body = w.bodies[(next.Add(1)-1)%uint64(len(w.bodies))]
		return nil
	}
	atk := vegeta.NewAttacker(
		vegeta.Workers(uint64(spec.conc)),
		vegeta.MaxWorkers(uint64(spec.conc)),
		vegeta.Connections(spec.conc),
		vegeta.KeepAlive(true),
		vegeta.Timeout(5*time.Second),
	)
	rate := vegeta.Rate{Freq: spec.rate, Per: time.Second}
	res := &result{target: spec.rate}
	start := time.Now()
	var last time.Time
	for r := range atk.Attack(targeter, rate, spec.duration, "opa") {
		res.requests++
		if end := r.Timestamp.Add(r.Latency); end.After(last) {
			last = end
		}
		if r.Error != "" || r.Code != http.StatusOK {
			res.errors++
			if res.firstError == "" {
				res.firstError = fmt.Sprintf("%d %s", r.Code, r.Error)
			}
			continue
		}
		res.latencies = append(res.latencies, r.Latency)
	}
	res.elapsed = last.Sub(start)
	slices.Sort(res.latencies)
	return res, nil
}
