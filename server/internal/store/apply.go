package store

import (
	"slices"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// Apply updates the profile for one event and returns the profile half of
// the outcome (the IP counters are the IPRecord's). Every backend applies
// events through this method, so they agree on what an event changes:
//
//   - login succeeded: the device, the country, the hour-of-day slot, the
//     day count, the lifetime login count, the last login (when newer than
//     the recorded one) and the action;
//   - MFA succeeded: the device and the action;
//   - login failed, MFA failed: the failed-login times;
//   - logout, activity: the action;
//   - every event but a failure moves LastActivity forward.
//
// Before applying, entries older than the lookback (and failures older than
// the window) relative to the newest event time are dropped. Apply does not
// validate ev; ValidateEvent does.
func (p *Profile) Apply(ev *decision.Event, s Settings) Outcome {
	s = s.Normalized()
	t := ev.Time.UTC()
	first := p.UpdatedAt.IsZero()
	if t.After(p.UpdatedAt) {
		p.UpdatedAt = t
	}
	p.prune(p.UpdatedAt, s)
	since := t.Add(-s.Lookback)
	out := Outcome{FirstEvent: first}

	switch ev.Kind {
	case decision.EventLoginSucceeded:
		out.NewDevice = p.touchDevice(ev.Device.ID, t, since)
		if c := ev.Network.Country; c != "" {
			out.NewCountry = !p.CountrySeen(c, since)
			p.Countries = touch(p.Countries, c, t, MaxCountries)
		}
		p.addHour(t)
		p.addDay(t)
		p.LoginCount++
		if !t.Before(p.LastLogin.Time) {
			p.LastLogin = loginOf(ev, t)
		}
		p.touchAction(ev.Action.Name, t)
		p.active(t)
	case decision.EventMFASucceeded:
		out.NewDevice = p.touchDevice(ev.Device.ID, t, since)
		p.touchAction(ev.Action.Name, t)
		p.active(t)
	case decision.EventLoginFailed, decision.EventMFAFailed:
		p.FailedLogins = insertTime(p.FailedLogins, t, MaxFailedLogins)
	case decision.EventLogout, decision.EventActivity:
		p.touchAction(ev.Action.Name, t)
		p.active(t)
	}

	out.LoginCount = p.LoginsSince(since)
	out.UserFailedLogins = p.FailedLoginsSince(t.Add(-s.FailureWindow))
	out.Suspended = p.Suspension.Suspended
	return out
}

// IsFailure reports whether k counts as a failed login: a failed login or
// a failed MFA.
func IsFailure(k decision.EventKind) bool {
	return k == decision.EventLoginFailed || k == decision.EventMFAFailed
}

// Prune drops what is older than the lookback (failures: the window)
// relative to ref. Backends call it when they sweep idle profiles; Apply
// calls it on every event.
func (p *Profile) Prune(ref time.Time, s Settings) {
	p.prune(ref.UTC(), s.Normalized())
}

func (p *Profile) prune(ref time.Time, s Settings) {
	cut := ref.Add(-s.Lookback)
	p.Devices = dropBefore(p.Devices, cut)
	p.Countries = dropBefore(p.Countries, cut)
	p.Actions = dropBefore(p.Actions, cut)
	for h := range p.Hours {
		if !p.Hours[h].LastSeen.IsZero() && p.Hours[h].LastSeen.Before(cut) {
			p.Hours[h] = HourSlot{}
		}
	}
	first := DayOf(cut)
	p.LoginDays = slices.DeleteFunc(p.LoginDays, func(d DayCount) bool { return d.Day < first })
	fcut := ref.Add(-s.FailureWindow)
	if n := len(p.FailedLogins) - countSince(p.FailedLogins, fcut); n > 0 {
		p.FailedLogins = slices.Delete(p.FailedLogins, 0, n)
	}
}

func (p *Profile) touchDevice(id string, t, since time.Time) bool {
	if id == "" {
		return false
	}
	known := p.DeviceSeen(id, since)
	p.Devices = touch(p.Devices, id, t, MaxDevices)
	return !known
}

func (p *Profile) touchAction(name string, t time.Time) {
	if name != "" {
		p.Actions = touch(p.Actions, name, t, MaxActions)
	}
}

func (p *Profile) active(t time.Time) {
	if t.After(p.LastActivity) {
		p.LastActivity = t
	}
}

func (p *Profile) addHour(t time.Time) {
	s := &p.Hours[t.Hour()]
	s.Count++
	if t.After(s.LastSeen) {
		s.LastSeen = t
	}
}

func (p *Profile) addDay(t time.Time) {
	d := DayOf(t)
	i, found := slices.BinarySearchFunc(p.LoginDays, d, func(e DayCount, d int64) int {
		switch {
		case e.Day < d:
			return -1
		case e.Day > d:
			return 1
		}
		return 0
	})
	if found {
		p.LoginDays[i].Count++
		return
	}
	p.LoginDays = slices.Insert(p.LoginDays, i, DayCount{Day: d, Count: 1})
}

func loginOf(ev *decision.Event, t time.Time) Login {
	n := ev.Network
	return Login{
		Time:        t,
		IP:          n.IP,
		Country:     n.Country,
		City:        n.City,
		HasLocation: n.HasLocation,
		Latitude:    n.Latitude,
		Longitude:   n.Longitude,
		DeviceID:    ev.Device.ID,
	}
}

// touch records key as seen at t, evicting the least recently seen entry
// (the smallest key among equals) when the list grows past limit.
func touch(list []Seen, key string, t time.Time, limit int) []Seen {
	for i := range list {
		e := &list[i]
		if e.Key != key {
			continue
		}
		e.Count++
		if t.After(e.LastSeen) {
			e.LastSeen = t
		}
		if t.Before(e.FirstSeen) {
			e.FirstSeen = t
		}
		return list
	}
	list = append(list, Seen{Key: key, FirstSeen: t, LastSeen: t, Count: 1})
	if len(list) <= limit {
		return list
	}
	victim := 0
	for i := 1; i < len(list); i++ {
		a, b := &list[i], &list[victim]
		if a.LastSeen.Before(b.LastSeen) || a.LastSeen.Equal(b.LastSeen) && a.Key < b.Key {
			victim = i
		}
	}
	return slices.Delete(list, victim, victim+1)
}

func dropBefore(list []Seen, cut time.Time) []Seen {
	return slices.DeleteFunc(list, func(e Seen) bool { return e.LastSeen.Before(cut) })
}

// insertTime inserts t into an ascending list, dropping the oldest entries
// beyond limit.
func insertTime(list []time.Time, t time.Time, limit int) []time.Time {
	i := len(list) - countSince(list, t)
	for i < len(list) && list[i].Equal(t) {
		i++
	}
	list = slices.Insert(list, i, t)
	if n := len(list) - limit; n > 0 {
		list = slices.Delete(list, 0, n)
	}
	return list
}
