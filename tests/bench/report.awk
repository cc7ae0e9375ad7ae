# report.awk - turns tests/bench/run's raw.csv (rep,test,config,value,unit,note) into Markdown
# tables on stdout and a summary CSV (-v summary=PATH): medians per test and configuration,
# ratios to the backing directory and to the best reference, and the targets as PASS/MISS.
# Environment: ZCB_META, ZCB_SIZES (header lines), ZCB_REFS (reference config names).

function lower_is_better(u) { return u == "s" || u == "s/GiB" || u == "1/GiB" }

function median(key,    n, i, j, a, t) {
	n = cnt[key]
	for (i = 1; i <= n; i++)
		a[i] = vals[key, i] + 0
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

function fmt(v, u) {
	if (u == "IOPS" || u == "1/GiB")
		return sprintf("%.0f", v)
	if (u == "MiB/s")
		return sprintf("%.0f", v)
	if (u == "s/GiB")
		return sprintf("%.3f", v)
	return sprintf("%.3f", v)
}

function has(key) { return (key in cnt) }

# best reference for test t: max (or min) median among references without errors
function bestref(t,    i, c, v, b, first) {
	first = 1
	bestname = ""
	for (i = 1; i <= nrefs; i++) {
		c = refs[i]
		if (!has(t SUBSEP c) || ((t SUBSEP c) in err))
			continue
		v = med[t, c]
		if (first || (lower_is_better(unit[t]) ? v < b : v > b)) {
			b = v
			bestname = c
			first = 0
		}
	}
	return first ? "" : b
}

function cell(t, c) {
	if (!has(t SUBSEP c))
		return "-"
	return fmt(med[t, c], unit[t]) (((t SUBSEP c) in err) ? " (" err[t, c] ")" : "")
}

function table(title, list,    n, tl, i, j, c, line, sep, shown) {
	n = split(list, tl, " ")
	line = "| config |"
	sep = "|---|"
	for (i = 1; i <= n; i++) {
		if (!(tl[i] in unit))
			continue
		line = line " " tl[i] " (" unit[tl[i]] ") |"
		sep = sep "---:|"
	}
	print "### " title "\n\n" line "\n" sep
	for (i = 1; i <= ncfg; i++) {
		c = cfgs[i]
		line = "| " c " |"
		shown = 0
		for (j = 1; j <= n; j++) {
			if (!(tl[j] in unit))
				continue
			line = line " " cell(tl[j], c) " |"
			if (has(tl[j] SUBSEP c))
				shown = 1
		}
		if (shown)
			print line
	}
	print ""
}

function ratio_table(title, list,    n, tl, i, c, line, sep, j, t, b, r, shown) {
	n = split(list, tl, " ")
	line = "| zcfs config |"
	sep = "|---|"
	for (i = 1; i <= n; i++) {
		if (!(tl[i] in unit))
			continue
		line = line " " tl[i] " |"
		sep = sep "---:|"
	}
	print "### " title "\n\n" line "\n" sep
	for (i = 1; i <= ncfg; i++) {
		c = cfgs[i]
		if (c !~ /^zcfs-/)
			continue
		line = "| " c " |"
		shown = 0
		for (j = 1; j <= n; j++) {
			t = tl[j]
			if (!(t in unit))
				continue
			if (!has(t SUBSEP c)) {
				line = line " - |"
				continue
			}
			shown = 1
			b = has(t SUBSEP "backing") && med[t, "backing"] > 0 ? sprintf("%.2f", med[t, c] / med[t, "backing"]) : "-"
			r = bestref(t)
			r = (r != "" && r > 0) ? sprintf("%.2f", med[t, c] / r) : "-"
			line = line " " b " / " r " |"
		}
		if (shown)
			print line
	}
	print ""
}

# target(t, against, op, want, config): one PASS/MISS row
function target(desc, t, against, op, want, c,    base, bname, v, r, ok) {
	if (!has(t SUBSEP c))
		return
	v = med[t, c]
	if (against == "bestref") {
		base = bestref(t)
		bname = bestname
	} else {
		base = has(t SUBSEP against) ? med[t, against] : ""
		bname = against
	}
	if (base == "" || base <= 0) {
		printf "| %s | %s | %s | - | - | n/a |\n", desc, c, fmt(v, unit[t])
		return
	}
	r = v / base
	ok = (op == ">=") ? r >= want : r <= want
	if ((t SUBSEP c) in err)
		ok = 0
	printf "| %s | %s | %s | %s (%s) | %.2fx | %s |\n", desc, c, fmt(v, unit[t]), fmt(base, unit[t]), bname, r,
	       ok ? "PASS" : "MISS"
	printf "%s,%s,%s,%s,%s,%.4f,%s\n", t, c, v, bname, base, r, ok ? "PASS" : "MISS" > targets_csv
}

NR == 1 { next }
{
	t = $2; c = $3
	key = t SUBSEP c
	if (!(key in cnt)) {
		if (!(c in seen)) { seen[c] = 1; cfgs[++ncfg] = c }
		if (!(t in unit)) tests[++ntests] = t
	}
	cnt[key]++
	vals[key, cnt[key]] = $4
	unit[t] = $5
	if ($6 ~ /errors=[1-9]/) { e = $6; sub(/.*errors=[0-9]+:/, "", e); err[key] = e }
}
END {
	nrefs = split(ENVIRON["ZCB_REFS"], refs, " ")
	targets_csv = summary ".targets"
	for (k in cnt) {
		split(k, kk, SUBSEP)
		med[kk[1], kk[2]] = median(k)
	}
	print "## zcfs benchmark\n"
	print ENVIRON["ZCB_META"] "  "
	print ENVIRON["ZCB_SIZES"] "\n"
	print "Medians over the reps; MiB/s and IOPS: higher is better; s, s/GiB, 1/GiB: lower is better."
	if (has("vm-fill" SUBSEP "machine"))
		printf "This VM fills new page-cache pages (first touch after drop_caches) at %.0f MiB/s.\n", med["vm-fill", "machine"]
	print ""
	table("Data path", "seq-a seq-b seq-c rand-1 rand-2 dataset write")
	table("Metadata", "tree-find-cold tree-find-warm tree-stat-cold tree-stat-warm big-find-cold big-find-warm big-stat-cold big-stat-warm")
	table("Daemon cost per GiB read (seq-a; /proc, and zcfs's own stats)", "cpu-per-gib csw-per-gib zcfs-cpu-per-gib zcfs-csw-per-gib")
	ratio_table("zcfs ratios: x backing / x best reference", "seq-a seq-b seq-c rand-1 rand-2 dataset write tree-find-cold tree-find-warm tree-stat-cold tree-stat-warm cpu-per-gib")

	print "### Targets\n"
	print "| target | zcfs config | value | against | ratio | result |"
	print "|---|---|---:|---:|---:|---|"
	print "test,config,value,against,against_value,ratio,result" > targets_csv
	for (i = 1; i <= ncfg; i++) if (cfgs[i] ~ /^zcfs-/)
		target("seq read, backing warm, mount cold >= 1.3x best ref", "seq-a", "bestref", ">=", 1.3, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] ~ /^zcfs-/)
		target("seq read, both warm, reopened >= 0.95x backing", "seq-b", "backing", ">=", 0.95, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] ~ /^zcfs-/)
		target("seq read, both cold >= 0.95x backing", "seq-c", "backing", ">=", 0.95, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] ~ /^zcfs-/)
		target("4K random read, 1 job >= 1.2x best ref", "rand-1", "bestref", ">=", 1.2, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] ~ /^zcfs-/)
		target("4K random read, 2 jobs >= 1.0x best ref", "rand-2", "bestref", ">=", 1.0, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] ~ /^zcfs-/)
		target("find, cold <= 1.0x best ref", "tree-find-cold", "bestref", "<=", 1.0, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] ~ /^zcfs-/)
		target("stat every file, cold <= 0.8x best ref", "tree-stat-cold", "bestref", "<=", 0.8, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] ~ /^zcfs-/)
		target("stat every file, warm <= 1.0x best ref", "tree-stat-warm", "bestref", "<=", 1.0, cfgs[i])
	target("daemon CPU per GiB, splice <= 0.5x buffered", "zcfs-cpu-per-gib", "zcfs-buffered", "<=", 0.5, "zcfs-splice")
	target("daemon CPU per GiB, splice <= 0.5x buffered (cache=none)", "zcfs-cpu-per-gib", "zcfs-buffered-none", "<=", 0.5, "zcfs-splice-none")
	print ""

	print "test,config,median,unit,reps,vs_backing,vs_best_ref,best_ref,errors" > summary
	for (i = 1; i <= ntests; i++) {
		t = tests[i]
		r = bestref(t)
		for (j = 1; j <= ncfg; j++) {
			c = cfgs[j]
			if (!has(t SUBSEP c))
				continue
			b = has(t SUBSEP "backing") && med[t, "backing"] > 0 ? sprintf("%.4f", med[t, c] / med[t, "backing"]) : ""
			printf "%s,%s,%s,%s,%d,%s,%s,%s,%s\n", t, c, med[t, c], unit[t], cnt[t, c], b,
			       (r != "" && r > 0) ? sprintf("%.4f", med[t, c] / r) : "", bestname,
			       ((t SUBSEP c) in err) ? err[t, c] : "" > summary
		}
	}
}
