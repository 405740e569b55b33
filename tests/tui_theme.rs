//! Theme files: partial overlays, exact error messages, NO_COLOR, and the colours a few key
//! cells get on screen under each built-in theme.

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;
use std::path::Path;
use std::time::Instant;
use tokscope::tui::app::App;
use tokscope::tui::theme::{self, ColorSupport, Theme, BUILTIN};
use tokscope::tui::{draw, fixtures};

#[test]
fn a_partial_file_lays_over_the_default() {
    let src = "ok = \"#00ff00\"\nwarn = { fg = \"yellow\", bold = true }\n";
    let t = Theme::parse_over(Theme::dark(), src, Path::new("/x/mine.toml")).expect("parses");
    let dark = Theme::dark();
    assert_eq!(t.name, "mine");
    assert_eq!(t.ok.fg, Some(Color::Rgb(0, 255, 0)));
    assert_eq!(t.warn.fg, Some(Color::Yellow));
    assert!(t.warn.add_modifier.contains(Modifier::BOLD));
    // Everything not named stays as the default has it.
    assert_eq!(t.error, dark.error);
    assert_eq!(t.series, dark.series);
    assert_eq!(t.text, dark.text);
}

#[test]
fn a_file_may_lay_over_another_builtin() {
    let t = Theme::parse_over(
        Theme::dark(),
        "base = \"light\"\naccent = \"red\"\n",
        Path::new("l.toml"),
    )
    .expect("parses");
    let light = Theme::builtin("light").expect("light");
    assert_eq!(t.background, light.background);
    assert_eq!(t.accent.fg, Some(Color::Red));
}

#[test]
fn bad_files_say_which_file_and_key() {
    let cases = [
        (
            "txt = \"red\"",
            "theme file 'my.toml': unknown key 'txt'; known keys: name, base, background, text, dim, accent, ok, warn, error, border, border_focused, title, series",
        ),
        (
            "ok = \"blurple\"",
            "theme file 'my.toml': key 'ok': 'blurple' is not a colour; use a name such as 'cyan', '#rrggbb' or 0-255",
        ),
        (
            "error = { fg = \"red\", blink = true }",
            "theme file 'my.toml': unknown key 'error.blink'; known keys: fg, bg, bold, dim, italic, underline, reversed",
        ),
        (
            "title = { bold = \"yes\" }",
            "theme file 'my.toml': key 'title.bold': expected true or false",
        ),
        (
            "series = [\"cyan\", \"nope\"]",
            "theme file 'my.toml': key 'series[1]': 'nope' is not a colour; use a name such as 'cyan', '#rrggbb' or 0-255",
        ),
        ("dim = 300", "theme file 'my.toml': key 'dim': '300' is not a palette index 0-255"),
        (
            "base = \"sepia\"",
            "theme file 'my.toml': key 'base': 'sepia' is not a built-in theme; use one of 'dark', 'light', 'high-contrast', 'colorblind'",
        ),
    ];
    for (src, want) in cases {
        let err = Theme::parse_over(Theme::dark(), src, Path::new("my.toml"))
            .expect_err(src)
            .to_string();
        assert_eq!(err, want, "for {src}");
    }
    let err = Theme::parse_over(Theme::dark(), "ok = ", Path::new("my.toml"))
        .expect_err("syntax")
        .to_string();
    assert!(
        err.starts_with("theme file 'my.toml': not valid TOML: "),
        "{err}"
    );
}

#[test]
fn names_resolve_to_user_files_then_builtins() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("mine.toml"), "accent = \"#123456\"\n").expect("write");
    std::fs::write(dir.path().join("light.toml"), "ok = \"red\"\n").expect("write");
    let mine = theme::resolve(Some("mine"), Some(dir.path())).expect("user theme");
    assert_eq!(mine.accent.fg, Some(Color::Rgb(0x12, 0x34, 0x56)));
    // A user's file of a built-in's name wins.
    let light = theme::resolve(Some("light"), Some(dir.path())).expect("light");
    assert_eq!(light.ok.fg, Some(Color::Red));
    let hc = theme::resolve(Some("high-contrast"), Some(dir.path())).expect("builtin");
    assert_eq!(hc.name, "high-contrast");
    let by_path = dir.path().join("mine.toml");
    let p = theme::resolve(by_path.to_str(), None).expect("path");
    assert_eq!(p.accent.fg, Some(Color::Rgb(0x12, 0x34, 0x56)));
    assert_eq!(theme::resolve(None, None).expect("default").name, "dark");

    let err = theme::resolve(Some("sepia"), Some(Path::new("/cfg/tokscope/themes")))
        .expect_err("unknown")
        .to_string();
    assert_eq!(
        err,
        "theme 'sepia' not found; built-in themes are 'dark', 'light', 'high-contrast', 'colorblind'; or save it as '/cfg/tokscope/themes/sepia.toml' or pass a path to a .toml file"
    );
    let missing = dir.path().join("gone.toml");
    let err = theme::resolve(missing.to_str(), None)
        .expect_err("missing")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "theme file '{}': cannot read it",
            missing.display()
        )),
        "{err}"
    );
}

#[test]
fn no_color_means_one_monochrome_theme() {
    let support = ColorSupport::from_env_values(Some("1"), Some("truecolor"));
    let list = theme::cycle_list(Theme::dark(), support);
    assert_eq!(list.len(), 1);
    let t = &list[0];
    assert_eq!(t.name, "monochrome");
    let buf = render(&App::new(1), t);
    for cell in buf.content() {
        assert_eq!(
            (cell.fg, cell.bg),
            (Color::Reset, Color::Reset),
            "colour under NO_COLOR"
        );
    }
}

#[test]
fn t_cycles_through_every_builtin_once() {
    let list = theme::cycle_list(
        Theme::builtin("light").expect("light"),
        ColorSupport::TrueColor,
    );
    let names: Vec<&str> = list.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["light", "dark", "high-contrast", "colorblind"]);
}

fn render(app: &App, theme: &Theme) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(120, 40)).expect("backend");
    let snap = fixtures::with_errors();
    t.draw(|f| draw(f, app, &snap, theme, Instant::now(), None))
        .expect("draw");
    t.backend().buffer().clone()
}

/// The first cell of the first occurrence of `needle` on screen.
fn find(buf: &Buffer, needle: &str) -> (u16, u16) {
    let text = tokscope::tui::export::to_text(buf);
    for (y, line) in text.lines().enumerate() {
        if let Some(byte) = line.find(needle) {
            return (line[..byte].chars().count() as u16, y as u16);
        }
    }
    panic!("'{needle}' not on screen:\n{text}");
}

#[test]
fn key_cells_take_their_roles_colours_in_every_theme() {
    for (name, _) in BUILTIN {
        let theme = Theme::builtin(name).expect(name);
        let buf = render(&App::new(1), &theme);
        let at = |needle: &str| {
            let (x, y) = find(&buf, needle);
            buf.cell((x, y)).expect("cell").clone()
        };
        let ok = |role: ratatui::style::Style, needle: &str| {
            let c = at(needle);
            assert_eq!(Some(c.fg), role.fg, "{name}: '{needle}'");
        };
        ok(theme.ok(), "● RUNNING");
        ok(theme.error(), "http_status");
        ok(theme.series(0), "TTFT");
        // The achieved rate, short of its target.
        let rate = tokscope::tui::fmt::rate(fixtures::with_errors().achieved_rate);
        ok(theme.warn(), &format!("{rate} of 16.0/s"));
        ok(theme.title(), "deepseek-ai");
        ok(theme.border(false), "╭ Load");
        if let Some(bg) = theme.background().bg {
            assert_eq!(
                buf.cell((0, 39)).map(|c| c.bg),
                Some(bg),
                "{name}: background"
            );
        }
    }
}

#[test]
fn without_truecolor_every_cell_is_in_the_palette() {
    let t = Theme::builtin("colorblind")
        .expect("colorblind")
        .adapt(ColorSupport::Palette256);
    let buf = render(&App::new(1), &t);
    for cell in buf.content() {
        assert!(!matches!(cell.fg, Color::Rgb(..)) && !matches!(cell.bg, Color::Rgb(..)));
    }
}
