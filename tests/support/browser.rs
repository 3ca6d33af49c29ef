//! Headless Chromium for the tests of pages (the performance report, the live
//! dashboard): Debian's `chromium`, which `.ci/run` installs where it can. A test
//! without it skips with a notice. And reading a page's text, tables and cells.

use std::path::{Path, PathBuf};

/// Chromium's path, if it is on `PATH`; otherwise prints that the test is skipped.
pub(crate) fn chromium() -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file());
    if found.is_none() {
        println!("skipped: `chromium` is not on PATH (apt-get install chromium)");
    }
    found
}

/// The DOM of the page at `url` after headless Chromium loaded it and let its script
/// run for `budget_ms` of virtual time, with a profile folder of its own (`profile`
/// names it within this process's).
pub(crate) fn dump_dom(chromium: &Path, url: &str, budget_ms: u32, profile: &str) -> String {
    let profile = std::env::temp_dir().join(format!(
        "taskweave-chromium-{}-{profile}",
        std::process::id()
    ));
    let output = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-proxy-server",
            "--dump-dom",
        ])
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(output.status.success(), "chromium failed: {output:?}");
    String::from_utf8(output.stdout).expect("a UTF-8 DOM")
}

/// The text of the element whose id is `id` (no markup inside).
pub(crate) fn text_of<'a>(page: &'a str, id: &str) -> &'a str {
    let open = format!("id=\"{id}\"");
    let at = page.find(&open).unwrap_or_else(|| panic!("no #{id}"));
    let rest = &page[at..];
    let rest = &rest[rest.find('>').unwrap() + 1..];
    &rest[..rest.find('<').unwrap()]
}

/// The rows of the table whose id is `id`, by their `data-name`: each row's markup
/// from its name on.
pub(crate) fn table_rows<'a>(page: &'a str, id: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<table id=\"{id}\"");
    let table = &page[page.find(&open).unwrap_or_else(|| panic!("no table #{id}"))..];
    let table = &table[..table.find("</table>").expect("the table's end")];
    table
        .split("<tr data-name=\"")
        .skip(1)
        .map(|row| (row.split('"').next().unwrap(), row))
        .collect()
}

/// The number in `<td class="{class}">N</td>` within `row`.
pub(crate) fn cell(row: &str, class: &str) -> u64 {
    let open = format!("<td class=\"{class}\">");
    let at = row
        .find(&open)
        .unwrap_or_else(|| panic!("no {class} in {row}"))
        + open.len();
    row[at..].split('<').next().unwrap().parse().unwrap()
}
