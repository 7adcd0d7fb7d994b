package redis

import "testing"

func TestParseInfoMemory(t *testing.T) {
	const redis7 = "# Memory\r\nused_memory:1083456\r\nused_memory_human:1.03M\r\n" +
		"maxmemory:67108864\r\nmaxmemory_human:64.00M\r\nmaxmemory_policy:allkeys-lru\r\n"
	m, hasMax, err := parseInfoMemory(redis7)
	if err != nil || !hasMax || m != (Memory{Used: 1083456, Max: 64 << 20, Policy: "allkeys-lru"}) {
		t.Fatalf("parseInfoMemory(redis 7) = %+v, %v, %v", m, hasMax, err)
	}

	// Redis 3 has no maxmemory in INFO: Memory falls back to CONFIG GET.
	m, hasMax, err = parseInfoMemory("# Memory\r\nused_memory:2048\r\nused_memory_rss:8192\r\n")
	if err != nil || hasMax || m.Used != 2048 {
		t.Fatalf("parseInfoMemory(redis 3) = %+v, %v, %v", m, hasMax, err)
	}

	for _, bad := range []string{"", "# Memory\r\nused_memory:lots\r\n",
		"used_memory:1\r\nmaxmemory:x\r\nmaxmemory_policy:noeviction\r\n"} {
		if _, _, err := parseInfoMemory(bad); err == nil {
			t.Errorf("parseInfoMemory(%q) succeeded", bad)
		}
	}
}
