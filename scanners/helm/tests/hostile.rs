//! Hostile charts (issue 10): templates that ask for huge allocations or exponential work. Each
//! must end as a render gap whose reason names the limit, without allocating what it asks for.
//! `hostile_memory.rs` runs the same fixtures and checks the process's peak memory.

mod common;

use common::{chart, render_tgz};

/// The render error of the chart's only template.
fn gap(template: &str) -> String {
    gap_with_files(template, &[])
}

fn gap_with_files(template: &str, files: &[(&str, &str)]) -> String {
    let mut t: Vec<(&str, &str)> = vec![("templates/t.yaml", template)];
    t.extend_from_slice(files);
    let out = render_tgz(&chart("evil", "", "", &t));
    let o = out.iter().find(|o| o.location == "templates/t.yaml").expect("rendered");
    o.result.clone().expect_err("the render must fail")
}

#[test]
fn range_over_a_huge_integer_is_lazy_and_charged() {
    let e = gap("{{ range 100000000000000 }}x{{ end }}");
    assert!(e.contains("max_render_steps"), "{e}");
    let e = gap("{{ range $i, $v := 100000000000000 }}{{ $i }}{{ end }}");
    assert!(e.contains("max_render_steps"), "{e}");
}

#[test]
fn until_and_until_step_are_charged_before_building_the_list() {
    for t in [
        "{{ range until 100000000000000 }}x{{ end }}",
        "{{ $l := until 9223372036854775807 }}",
        "{{ $l := untilStep -9223372036854775808 9223372036854775807 1 }}",
        "{{ $l := seq 1 100000000000 }}",
    ] {
        let e = gap(t);
        assert!(e.contains("max_render_steps"), "{t}: {e}");
        assert!(
            !e.contains("over the 1000000 limit"),
            "charged before the list cap: {e}"
        );
    }
}

#[test]
fn string_building_is_checked_against_the_output_budget_first() {
    for (t, func) in [
        (r#"{{ repeat 100000000000 "x" }}"#, "repeat"),
        (
            r#"{{ $s := repeat 1000000 "ab" }}{{ $t := cat $s $s $s $s $s }}"#,
            "cat",
        ),
        (
            r#"{{ $s := repeat 1000000 "ab" }}{{ join "," (list $s $s $s $s $s) }}"#,
            "join",
        ),
        (r#"{{ $s := repeat 2000000 "\n" }}{{ indent 1000 $s }}"#, "indent"),
        (r#"{{ $s := repeat 2000000 "\n" }}{{ nindent 1000 $s }}"#, "nindent"),
        (
            r#"{{ $s := repeat 1000000 "a" }}{{ replace "a" "bbbbbbbbbbbbbbbbbb" $s }}"#,
            "replace",
        ),
        (r#"{{ printf (repeat 4000 "%4096d") 1 2 3 }}"#, "printf"),
        (
            r#"{{ $s := repeat 500000 "x" }}{{ $l := list $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s }}{{ toYaml $l }}"#,
            "toYaml",
        ),
        (r#"{{ $s := repeat 500000 "<" }}{{ toJson (list $s $s $s) }}"#, "toJson"),
        (
            r#"{{ $s := repeat 500000 "x" }}{{ $l := list $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s $s }}{{ $l }}"#,
            "printing a value",
        ),
    ] {
        let e = gap(t);
        assert!(e.contains(&format!("{func} would produce")), "{func}: {e}");
        assert!(e.contains("max_render_bytes"), "{func}: {e}");
    }
}

#[test]
fn trunc_of_a_large_string_is_fine() {
    let text = common::render_text("", r#"{{ repeat 1000000 "é" | trunc 3 }}"#);
    assert_eq!(text, "ééé");
}

#[test]
fn exponential_glob_patterns_run_in_linear_time() {
    let name = "a".repeat(60);
    let pattern = format!("{}b", "*a".repeat(20));
    let t = format!(r#"n={{{{ len (.Files.Glob "{pattern}") }}}} m={{{{ len (.Files.Glob "*a*") }}}}"#);
    let out = render_tgz(&chart("evil", "", "", &[("templates/t.yaml", &t), (&name, "x")]));
    let o = out.iter().find(|o| o.location == "templates/t.yaml").unwrap();
    assert_eq!(o.rendered.trim(), "n=0 m=1", "{:?}", o.result);
}

#[test]
fn glob_patterns_are_bounded() {
    let pattern = "*".repeat(2000);
    let e = gap_with_files(&format!(r#"{{{{ .Files.Glob "{pattern}" }}}}"#), &[("a", "x")]);
    assert!(e.contains("1024 characters"), "{e}");
}

#[test]
fn certificates_with_huge_name_lists_are_charged_first() {
    let e = gap(
        r#"{{ $n := list }}{{ $d := repeat 100000 "a" }}{{ range until 100 }}{{ $n = append $n $d }}{{ end }}{{ genSelfSignedCert "x" nil $n 1 }}"#,
    );
    assert!(e.contains("genSelfSignedCert would produce"), "{e}");
    assert!(e.contains("max_render_bytes"), "{e}");
}

#[test]
fn file_contents_are_charged_before_they_are_copied() {
    // 3 MB of bytes as a list of integers would be 72 MB of values: refused before building it.
    let big = "x".repeat(3 << 20);
    let e = gap_with_files(r#"{{ $b := .Files.GetBytes "big.bin" }}"#, &[("big.bin", &big)]);
    assert!(e.contains("max_render_steps"), "{e}");
    // AsSecrets of 6 MB of files: base64 and YAML would pass the 8 MiB output limit.
    let e = gap_with_files(r#"{{ $s := .Files.AsSecrets }}"#, &[("a.bin", &big), ("b.bin", &big)]);
    assert!(e.contains("Files.AsSecrets would produce"), "{e}");
}
