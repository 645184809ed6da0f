//! The hostile templates of `hostile.rs`, scanned end to end in a process of their own, with
//! the process's peak memory checked: before the budgets were charged ahead of allocation,
//! `range 100000000000000` alone asked for 4.8 PB and aborted the process.

mod common;

use common::{chart, scan};

/// The process's peak resident memory (Linux), if known.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn hostile_templates_stay_within_bounded_memory() {
    let templates = [
        "{{ range 100000000000000 }}x{{ end }}",
        "{{ range until 100000000000000 }}x{{ end }}",
        r#"{{ repeat 100000000000 "x" }}"#,
        r#"{{ printf (repeat 4000 "%4096d") 1 }}"#,
        r#"{{ $s := repeat 2000000 "\n" }}{{ nindent 1000 $s }}"#,
        r#"{{ $s := repeat 1000000 "ab" }}{{ join "," (list $s $s $s $s $s) }}"#,
        r#"{{ $s := repeat 500000 "x" }}{{ $l := list $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s }}{{ toYaml $l }}"#,
        r#"{{ $l := list 1 }}{{ range until 60 }}{{ $l = list $l $l }}{{ end }}{{ toJson $l }}"#,
    ];
    let files: Vec<(String, String)> = templates
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("templates/t{i}.yaml"), (*t).to_owned()))
        .collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let mut with_glob = refs.clone();
    let name = "a".repeat(60);
    let glob = format!(r#"matches: {{{{ len (.Files.Glob "{}b") }}}}"#, "*a".repeat(20));
    with_glob.push(("templates/glob.yaml", &glob));
    with_glob.push((&name, "x"));
    let out = scan(&chart("evil", "", "", &with_glob));
    let gaps = out.details["render_errors"].as_array().unwrap();
    // The glob template renders (to a scalar document, which is its own gap).
    let gaps: Vec<_> = gaps.iter().filter(|g| g["template"] != "templates/glob.yaml").collect();
    assert_eq!(gaps.len(), templates.len(), "{gaps:?}");
    for g in gaps {
        let reason = g["reason"].as_str().unwrap();
        assert!(
            reason.contains("max_render_") || reason.contains("value size limit"),
            "{reason}"
        );
    }
    if let Some(peak) = peak_rss_bytes() {
        assert!(peak < 256 << 20, "peak RSS {peak} bytes");
    }
}
