# report.awk - turns tests/bench/run's raw.csv (rep,test,config,value,unit,note) into Markdown
# tables on stdout and a summary CSV (-v summary=PATH): medians per test and configuration,
# ratios to the backing directory and to the best reference, and the targets as PASS/MISS.
# Environment: ZCB_META, ZCB_SIZES (header lines), ZCB_REFS (reference config names),
# ZCB_UNAVAIL ("config=reason|..." for configurations skipped or failed in this run).

function lower_is_better(u) { return u == "s" || u == "s/GiB" || u == "1/GiB" || u == "KiB" || u == "MiB" }

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
	if (u == "KiB" || u == "MiB" || u == "count")
		return sprintf("%.0f", v)
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

# The value a target compares with: a configuration's median, or the best reference's (bestref);
# "" if this run has none. Sets the global against_name.
function against_base(t, against,    base) {
	if (against == "bestref") {
		base = bestref(t) # sets bestname
		against_name = bestname
		return base
	}
	against_name = against
	return has(t SUBSEP against) ? med[t, against] : ""
}

# One PASS/MISS row with its ratio, and its line in targets.csv.
function ratio_row(desc, t, c, v, base, op, want,    r, ok) {
	r = v / base
	ok = (op == ">=") ? r >= want : (op == "<") ? r < want : r <= want
	if ((t SUBSEP c) in err)
		ok = 0
	printf "| %s | %s | %s | %s (%s) | %.2fx | %s |\n", desc, c, fmt(v, unit[t]), fmt(base, unit[t]),
	       against_name, r, ok ? "PASS" : "MISS"
	printf "%s,%s,%s,%s,%s,%.4f,%s\n", t, c, v, against_name, base, r, ok ? "PASS" : "MISS" > targets_csv
}

# target(t, against, op, want, config): one PASS/MISS row
function target(desc, t, against, op, want, c,    base) {
	if (!has(t SUBSEP c))
		return
	base = against_base(t, against)
	if (base == "" || base <= 0) {
		printf "| %s | %s | %s | - | - | n/a |\n", desc, c, fmt(med[t, c], unit[t])
		return
	}
	ratio_row(desc, t, c, med[t, c], base, op, want)
}

# need(desc, t, c, against, op, want): a target row that is printed whatever happened: a
# configuration that this run skipped or that failed says so, with the reason. against is a
# configuration, "bestref", or "=" for an absolute bound (want, in the test's unit).
function need(desc, t, c, against, op, want,    base, v, ok, why) {
	why = ""
	if (c in unavail)
		why = unavail[c]
	else if (against != "bestref" && against != "=" && (against in unavail))
		why = against ": " unavail[against]
	if (why != "" || !has(t SUBSEP c)) {
		printf "| %s | %s | - | %s | - | %s |\n", desc, c, against == "=" ? op " " want : against,
		       why != "" ? (why ~ /^FAIL/ || why ~ /: FAIL/ ? why : "SKIP: " why) : "n/a (not run)"
		printf "%s,%s,,%s,,,%s\n", t, c, against, why != "" ? "SKIP" : "n/a" > targets_csv
		return
	}
	v = med[t, c]
	if (against == "=") {
		ok = (op == "<=") ? v <= want : (op == "<") ? v < want : v >= want
		if ((t SUBSEP c) in err)
			ok = 0
		printf "| %s | %s | %s %s | %s %s | - | %s |\n", desc, c, fmt(v, unit[t]), unit[t], op, want,
		       ok ? "PASS" : "MISS"
		printf "%s,%s,%s,%s,%s,,%s\n", t, c, v, op, want, ok ? "PASS" : "MISS" > targets_csv
		return
	}
	base = against_base(t, against)
	if (base == "" || base <= 0) {
		printf "| %s | %s | %s | %s | - | n/a (no %s) |\n", desc, c, fmt(v, unit[t]), against, against
		printf "%s,%s,%s,%s,,,n/a\n", t, c, v, against > targets_csv
		return
	}
	ratio_row(desc, t, c, v, base, op, want)
}

NR == 1 { next }
{
	t = $2; c = $3
	key = t SUBSEP c
	if (!(key in cnt)) {
		if (!(c in seen)) { seen[c] = 1; cfgs[++ncfg] = c }
		if (!(t in unit)) tests[++ntests] = t
	}
	if ($6 ~ /extdrop=/)
		extdrop++
	nrows++
	cnt[key]++
	vals[key, cnt[key]] = $4
	unit[t] = $5
	if ($6 ~ /errors=[1-9]/) { e = $6; sub(/.*errors=[0-9]+:/, "", e); err[key] = e }
}
END {
	nrefs = split(ENVIRON["ZCB_REFS"], refs, " ")
	nu = split(ENVIRON["ZCB_UNAVAIL"], ul, "|")
	for (i = 1; i <= nu; i++) {
		if (ul[i] == "")
			continue
		k = index(ul[i], "=")
		c = substr(ul[i], 1, k - 1)
		nunavail++
		v = substr(ul[i], k + 1)
		if (c in unavail)
			v = unavail[c] "; " v
		unavail[c] = v
	}
	targets_csv = summary ".targets"
	for (k in cnt) {
		split(k, kk, SUBSEP)
		med[kk[1], kk[2]] = median(k)
	}
	print "## zcfs benchmark\n"
	print ENVIRON["ZCB_META"] "  "
	print ENVIRON["ZCB_SIZES"] "\n"
	print "Medians over the reps; MiB/s and IOPS: higher is better; s, s/GiB, 1/GiB: lower is better."
	if (extdrop)
		printf "**%d of %d measurements ran while another process dropped the page cache** (note extdrop=N in raw.csv): their \"warm\" was partly cold.\n", extdrop, nrows
	if (has("vm-fill" SUBSEP "machine"))
		printf "This VM fills new page-cache pages (first touch after drop_caches) at %.0f MiB/s.\n", med["vm-fill", "machine"]
	print ""
	if (nunavail) {
		print "**Not run, or failed, in this run:**\n"
		for (c in unavail)
			print "* " c ": " unavail[c]
		print ""
	}
	table("Data path", "seq-a seq-b seq-c rand-1 rand-2 dataset write")
	table("Metadata", "tree-find-cold tree-find-warm tree-stat-cold tree-stat-warm big-find-cold big-find-warm big-stat-cold big-stat-warm")
	table("Daemon cost per GiB read (seq-a; /proc, and zcfs's own stats)", "cpu-per-gib csw-per-gib zcfs-cpu-per-gib zcfs-csw-per-gib")
	table("Mount-side page cache after the file was read twice (pcache; MiB: cachestat of the reading descriptor, mincore through a map of it, fincore of the mount path, fincore of the backing file)", "pcache-read pcache-cachestat pcache-mincore pcache-fincore pcache-backing")
	table("Applications (sqlite: create, then 40 updating processes; read-kib: bytes zcfs served during the updates; git: clone, gc, fsck --full; apps: tar x, tar c, make -j2, numpy.memmap)", "sqlite-create sqlite-update sqlite-read-kib git-clone git-gc git-fsck git-total apps-tar-x apps-tar-c apps-make apps-numpy")
	ratio_table("zcfs ratios: x backing / x best reference", "seq-a seq-b seq-c rand-1 rand-2 dataset write tree-find-cold tree-find-warm tree-stat-cold tree-stat-warm cpu-per-gib sqlite-create sqlite-update git-clone git-gc git-fsck git-total apps-tar-x apps-tar-c apps-make apps-numpy")

	print "### Targets\n"
	print "| target | zcfs config | value | against | ratio | result |"
	print "|---|---|---:|---:|---:|---|"
	print "test,config,value,against,against_value,ratio,result" > targets_csv
	# issue 6's targets, for the read modes over /dev/fuse (io_uring and applications: below)
	for (i = 1; i <= ncfg; i++) if (cfgs[i] ~ /^zcfs-/ && cfgs[i] !~ /-(uring|keep|wb)$/) old6[cfgs[i]] = 1
	for (i = 1; i <= ncfg; i++) if (cfgs[i] in old6)
		target("seq read, backing warm, mount cold >= 1.3x best ref", "seq-a", "bestref", ">=", 1.3, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] in old6)
		target("seq read, both warm, reopened >= 0.95x backing", "seq-b", "backing", ">=", 0.95, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] in old6)
		target("seq read, both cold >= 0.95x backing", "seq-c", "backing", ">=", 0.95, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] in old6)
		target("4K random read, 1 job >= 1.2x best ref", "rand-1", "bestref", ">=", 1.2, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] in old6)
		target("4K random read, 2 jobs >= 1.0x best ref", "rand-2", "bestref", ">=", 1.0, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] in old6)
		target("find, cold <= 1.0x best ref", "tree-find-cold", "bestref", "<=", 1.0, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] in old6)
		target("stat every file, cold <= 0.8x best ref", "tree-stat-cold", "bestref", "<=", 0.8, cfgs[i])
	for (i = 1; i <= ncfg; i++) if (cfgs[i] in old6)
		target("stat every file, warm <= 1.0x best ref", "tree-stat-warm", "bestref", "<=", 1.0, cfgs[i])
	target("daemon CPU per GiB, splice <= 0.5x buffered", "zcfs-cpu-per-gib", "zcfs-buffered", "<=", 0.5, "zcfs-splice")
	target("daemon CPU per GiB, splice <= 0.5x buffered (cache=none)", "zcfs-cpu-per-gib", "zcfs-buffered-none", "<=", 0.5, "zcfs-splice-none")
	print ""

	# Issue 13 (passthrough, io_uring) and issue 12 section 2 (applications): every row printed.
	print "### Targets of issues 13 and 12 (ratios of this run's medians)\n"
	print "| target | zcfs config | value | against | ratio | result |"
	print "|---|---|---:|---:|---:|---|"
	for (j = 1; j <= 2; j++) {
		need("4K random read, " j " job" (j > 1 ? "s" : "") ", backing warm, passthrough >= 0.85x backing", "rand-" j, "zcfs-passthrough", "backing", ">=", 0.85)
		need("4K random read, " j " job" (j > 1 ? "s" : "") ", passthrough >= 1.0x pthp", "rand-" j, "zcfs-passthrough", "pthp", ">=", 1.0)
	}
	nm = split("buffered splice mmap", um, " ")
	for (i = 1; i <= nm; i++) {
		c = "zcfs-" um[i] "-uring"
		if (um[i] == "mmap" && !has("rand-2" SUBSEP c) && !(c in unavail))
			continue
		need("4K random read, 2 jobs, cache=none, io_uring >= 1.8x /dev/fuse", "rand-2", c, "zcfs-" um[i], ">=", 1.8)
		need("4K random read, 2 jobs, io_uring >= 1.0x pthp-uring (--direct-io)", "rand-2", c, "pthp-uring", ">=", 1.0)
		need("4K random read, 1 job, io_uring >= 1.0x /dev/fuse", "rand-1", c, "zcfs-" um[i], ">=", 1.0)
	}
	need("find, warm, io_uring <= 1.0x pthp-uring", "tree-find-warm", "zcfs-splice-uring", "pthp-uring", "<=", 1.0)
	need("stat every file, warm, io_uring <= 1.0x pthp-uring", "tree-stat-warm", "zcfs-splice-uring", "pthp-uring", "<=", 1.0)
	if (has("tree-find-warm" SUBSEP "zcfs-t120-uring")) {
		need("(same, 120 s timeouts) find, warm, io_uring", "tree-find-warm", "zcfs-t120-uring", "pthp-uring", "<=", 1.0)
		need("(same, 120 s timeouts) stat, warm, io_uring", "tree-stat-warm", "zcfs-t120-uring", "pthp-uring", "<=", 1.0)
	}
	need("seq read, both warm, reopened, passthrough >= 0.95x backing", "seq-b", "zcfs-passthrough", "backing", ">=", 0.95)
	need("mount page cache after 2 reads (cachestat), passthrough: none", "pcache-cachestat", "zcfs-passthrough", "=", "<=", 0)
	need("dataset epoch, passthrough >= 1.3x best ref (pthp included)", "dataset", "zcfs-passthrough", "bestref", ">=", 1.3)
	need("daemon CPU per GiB, passthrough < 0.02x buffered", "zcfs-cpu-per-gib", "zcfs-passthrough", "zcfs-buffered", "<", 0.02)
	need("sqlite, 40 updating processes <= 1.5x ext4 (cache=auto)", "sqlite-update", "zcfs-splice", "backing", "<=", 1.5)
	need("sqlite, 40 updating processes <= 1.5x ext4 (cache=keep)", "sqlite-update", "zcfs-splice-keep", "backing", "<=", 1.5)
	need("sqlite, 40 updating processes <= 1.5x ext4 (writeback)", "sqlite-update", "zcfs-splice-wb", "backing", "<=", 1.5)
	need("git clone + gc + fsck --full <= 2x ext4", "git-total", "zcfs-splice", "backing", "<=", 2.0)
	need("git clone + gc + fsck --full <= 2x ext4 (passthrough)", "git-total", "zcfs-passthrough", "backing", "<=", 2.0)
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
