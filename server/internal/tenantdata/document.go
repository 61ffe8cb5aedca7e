package tenantdata

// This file reads the data.tenants document Data builds and the engine holds
// (tenant → {"plan", "environments": {env: effective policy}}, see
// rego/README.md), for the packages that derive state from it: IP lists,
// signal windows, incident thresholds.

import (
	"encoding/json"
	"maps"
	"slices"
)

// Environments calls fn for every environment of every tenant, in tenant
// then environment order, with the environment's effective policy (nil
// when it is not an object).
func Environments(tenants map[string]any, fn func(tenant, env string, policy map[string]any)) {
	for _, tenant := range slices.Sorted(maps.Keys(tenants)) {
		tm, _ := tenants[tenant].(map[string]any)
		envs, _ := tm["environments"].(map[string]any)
		for _, env := range slices.Sorted(maps.Keys(envs)) {
			policy, _ := envs[env].(map[string]any)
			fn(tenant, env, policy)
		}
	}
}

// Int reads the integer under the path of keys, whichever Go type carries
// it (int64, int, uint32, float64, json.Number); ok is false when a key is
// missing or the value is not a number.
func Int(doc map[string]any, path ...string) (n int64, ok bool) {
	var v any = doc
	for _, k := range path {
		m, isMap := v.(map[string]any)
		if !isMap {
			return 0, false
		}
		v = m[k]
	}
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case uint32:
		return int64(x), true
	case float64:
		return int64(x), true
	case json.Number:
		i, err := x.Int64()
		return i, err == nil
	}
	return 0, false
}
