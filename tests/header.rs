//! The committed header must be what cbindgen generates from the code now.

#[test]
fn committed_header_matches_the_generated_one() {
    let generated =
        std::fs::read_to_string(env!("NHTTPS_GENERATED_HEADER")).expect("generated header");
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/nhttps.h"))
            .unwrap_or_default();
    assert!(
        generated == committed,
        "include/nhttps.h is stale: run `make header` and commit it"
    );
}
