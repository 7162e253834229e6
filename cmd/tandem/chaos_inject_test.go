package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// chaosInjector is the goroutine that breaks things while Tandem runs:
// toxics on the proxies (latency spikes, connections stalled until they
// time out, connections reset, bandwidth cut to a trickle), bursts of
// 5xx answers from the emulators, and a noisy neighbour that spends the
// systems' rate limits so that Tandem meets HubSpot's 429s and
// Salesforce's REQUEST_LIMIT_EXCEEDED. Each is added and taken away at
// random; every one is counted by kind.
type chaosInjector struct {
	env *chaosEnv
	rng *rand.Rand
	wg  sync.WaitGroup

	mu     sync.Mutex
	counts map[string]int
	busy   map[string]bool // "5xx hubspot", "noise salesforce", ...
	active map[string]int  // toxics on each proxy now
	n      int
	noise  map[string]int // the noisy neighbour's requests, and the ones refused for rate
}

func newChaosInjector(env *chaosEnv, seed uint64) *chaosInjector {
	return &chaosInjector{env: env, rng: rand.New(rand.NewPCG(seed, 0xc4a05)), counts: map[string]int{},
		busy: map[string]bool{}, active: map[string]int{}, noise: map[string]int{}}
}

func (c *chaosInjector) count(kind string) {
	c.mu.Lock()
	c.counts[kind]++
	c.mu.Unlock()
}

// run injects faults until stop is closed, then takes every one away.
func (c *chaosInjector) run(stop <-chan struct{}) {
	for {
		wait := time.Duration(300+c.rng.IntN(1200)) * time.Millisecond
		select {
		case <-stop:
			c.wg.Wait()
			c.clear()
			return
		case <-time.After(wait):
		}
		side := c.env.sides[c.rng.IntN(len(c.env.sides))].name()
		hold := time.Duration(500+c.rng.IntN(3500)) * time.Millisecond
		switch r := c.rng.IntN(100); {
		case r < 60:
			c.toxic(side, hold, stop)
		case r < 82:
			c.burst5xx(side, hold, stop)
		default:
			c.noisy(side, hold, stop)
		}
	}
}

// clear takes every fault away.
func (c *chaosInjector) clear() {
	for _, p := range c.env.proxies {
		p.reset()
	}
	for _, s := range c.env.sides {
		s.setFaults(0, 0)
	}
}

// sleepOrStop waits d or until stop; it reports whether d passed.
func sleepOrStop(d time.Duration, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return false
	case <-time.After(d):
		return true
	}
}

// toxic adds one toxic to a side's proxy for a while.
func (c *chaosInjector) toxic(side string, hold time.Duration, stop <-chan struct{}) {
	c.mu.Lock()
	if c.active[side] >= 2 {
		c.mu.Unlock()
		return
	}
	c.active[side]++
	c.n++
	n := c.n
	c.mu.Unlock()
	stream := []string{"upstream", "downstream"}[c.rng.IntN(2)]
	var typ, attrs string
	toxicity := 1.0
	switch r := c.rng.IntN(100); {
	case r < 30:
		typ, attrs = "latency", fmt.Sprintf(`{"latency":%d,"jitter":%d}`, 100+c.rng.IntN(1400), c.rng.IntN(200))
	case r < 50:
		typ, attrs = "timeout", fmt.Sprintf(`{"timeout":%d}`, 200+c.rng.IntN(2500))
		toxicity = 0.3 + 0.7*c.rng.Float64()
	case r < 75:
		typ, attrs = "reset_peer", fmt.Sprintf(`{"timeout":%d}`, c.rng.IntN(100))
		toxicity = 0.2 + 0.5*c.rng.Float64()
	default:
		typ, attrs = "bandwidth", fmt.Sprintf(`{"rate":%d}`, 2+c.rng.IntN(60))
	}
	name := fmt.Sprintf("%s_%s_%d", typ, stream, n)
	p := c.env.proxies[side]
	if err := p.add(name, typ, stream, toxicity, attrs); err != nil {
		c.count("toxic refused: " + err.Error())
		c.mu.Lock()
		c.active[side]--
		c.mu.Unlock()
		return
	}
	c.count("toxiproxy " + typ)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		sleepOrStop(hold, stop)
		p.remove(name)
		c.mu.Lock()
		c.active[side]--
		c.mu.Unlock()
	}()
}

// burst5xx makes a share of one emulator's answers 500, 502 or 503.
func (c *chaosInjector) burst5xx(side string, hold time.Duration, stop <-chan struct{}) {
	key := "5xx " + side
	c.mu.Lock()
	if c.busy[key] {
		c.mu.Unlock()
		return
	}
	c.busy[key] = true
	c.mu.Unlock()
	sys := c.env.side(side)
	sys.setFaults(0.2+0.7*c.rng.Float64(), c.rng.Uint64())
	c.count(side + " 5xx burst")
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		sleepOrStop(hold, stop)
		sys.setFaults(0, 0)
		c.mu.Lock()
		c.busy[key] = false
		c.mu.Unlock()
	}()
}

// noisy is another integration on the same HubSpot app, Salesforce org or
// CRM account, spending the rate limit for a while: Tandem's calls meet the
// systems' own refusals (HubSpot's 429 TEN_SECONDLY_ROLLING; Salesforce's
// 403 REQUEST_LIMIT_EXCEEDED, the emulator's per-second test limit; the
// CRM's 429). chaosSide.noise makes its request.
func (c *chaosInjector) noisy(side string, hold time.Duration, stop <-chan struct{}) {
	key := "noise " + side
	c.mu.Lock()
	if c.busy[key] {
		c.mu.Unlock()
		return
	}
	c.busy[key] = true
	c.mu.Unlock()
	c.count(side + " rate-limit burst (noisy neighbour)")
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			c.busy[key] = false
			c.mu.Unlock()
		}()
		client := &http.Client{Timeout: 5 * time.Second}
		proto, refusal, err := c.env.side(side).noise(client, c.env.direct[side])
		if err != nil {
			return
		}
		// For the hold: HubSpot's window (600 calls per 10 s) is filled as
		// fast as the emulator answers, then kept full (a slot frees as a
		// call leaves the window, and most go to the neighbour: Tandem
		// meets 429s until ten seconds after the hold); the others' 150 a
		// second are spent by 300 calls a second.
		every := time.Second / 300
		if side == "hubspot" {
			every = time.Millisecond
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		end := time.After(hold)
		var wg sync.WaitGroup
		defer wg.Wait()
		sem := make(chan struct{}, 8)
		for {
			select {
			case <-stop:
				return
			case <-end:
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // the emulator is slower than the noise: skip a beat
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				req := proto.Clone(context.Background())
				req.Header.Set(chaosNoiseHdr, "1")
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				resp.Body.Close()
				c.mu.Lock()
				c.noise[side+" calls"]++
				refused := refusal(resp.StatusCode)
				if refused {
					c.noise[side+" refused"]++
				}
				c.mu.Unlock()
				if refused && side == "hubspot" {
					time.Sleep(20 * time.Millisecond) // the window is full: keep it so, gently
				}
			}()
		}
	}()
}

// figures are the counts of faults injected, by kind, as text.
func (c *chaosInjector) figures() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, k := range sortedKeys(c.counts) {
		parts = append(parts, fmt.Sprintf("%s %d", k, c.counts[k]))
	}
	for _, k := range sortedKeys(c.noise) {
		parts = append(parts, fmt.Sprintf("noisy neighbour %s %d", k, c.noise[k]))
	}
	return strings.Join(parts, ", ")
}
