//! Semantic colours. Pane code asks the theme for a role (`ok`, `warn`, `series(i)` ...) and
//! never names a colour itself.
//!
//! Themes are TOML files: the built-in ones live in `themes/` and are compiled in; a user's own
//! sit in `<config dir>/tokscope/themes/NAME.toml` or anywhere given by path. A file may be
//! partial: it lays over its `base` (the dark default unless it names another built-in).
//! `NO_COLOR` selects a monochrome theme; a terminal without truecolor gets RGB colours mapped
//! to the 256-colour palette.

use ratatui::style::{Color, Modifier, Style};
use std::path::{Path, PathBuf};

/// A theme: one style per semantic role.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    /// Fills the whole screen first (usually only a background colour; empty keeps the
    /// terminal's own background).
    pub background: Style,
    pub text: Style,
    pub dim: Style,
    pub accent: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub border: Style,
    pub border_focused: Style,
    pub title: Style,
    pub series: Vec<Style>,
}

/// The built-in theme files, in the order `t` cycles through them.
pub const BUILTIN: [(&str, &str); 4] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("colorblind", include_str!("../../themes/colorblind.toml")),
];

/// The keys a theme file may hold (style roles, then `series`).
const STYLE_KEYS: [&str; 10] = [
    "background",
    "text",
    "dim",
    "accent",
    "ok",
    "warn",
    "error",
    "border",
    "border_focused",
    "title",
];

/// What the terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorSupport {
    /// 24-bit colour (`$COLORTERM` is `truecolor` or `24bit`).
    TrueColor,
    /// The xterm 256-colour palette: RGB colours are mapped to their nearest entry.
    Palette256,
    /// `NO_COLOR` is set: no colours at all, only bold/dim/underline.
    Monochrome,
}

impl ColorSupport {
    /// Decide from the two environment variables that say it (`NO_COLOR`, `COLORTERM`).
    pub fn from_env_values(no_color: Option<&str>, colorterm: Option<&str>) -> ColorSupport {
        // no-color.org: set and non-empty means no colour.
        if no_color.is_some_and(|v| !v.is_empty()) {
            return ColorSupport::Monochrome;
        }
        match colorterm.map(|s| s.to_ascii_lowercase()) {
            Some(v) if v == "truecolor" || v == "24bit" => ColorSupport::TrueColor,
            _ => ColorSupport::Palette256,
        }
    }

    /// Read the process environment.
    pub fn detect() -> ColorSupport {
        let no_color = std::env::var("NO_COLOR").ok();
        let colorterm = std::env::var("COLORTERM").ok();
        ColorSupport::from_env_values(no_color.as_deref(), colorterm.as_deref())
    }
}

impl Theme {
    pub fn text(&self) -> Style {
        self.text
    }
    pub fn dim(&self) -> Style {
        self.dim
    }
    pub fn accent(&self) -> Style {
        self.accent
    }
    pub fn ok(&self) -> Style {
        self.ok
    }
    pub fn warn(&self) -> Style {
        self.warn
    }
    pub fn error(&self) -> Style {
        self.error
    }
    pub fn title(&self) -> Style {
        self.title
    }
    pub fn background(&self) -> Style {
        self.background
    }
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.border_focused
        } else {
            self.border
        }
    }
    /// Colour of the i-th data series (wraps around).
    pub fn series(&self, i: usize) -> Style {
        if self.series.is_empty() {
            return self.text;
        }
        self.series[i % self.series.len()]
    }

    /// The built-in dark theme (the default).
    pub fn dark() -> Theme {
        Theme::builtin("dark").unwrap_or_else(Theme::fallback_dark)
    }

    /// A built-in theme by name (`dark`, `light`, `high-contrast`, `colorblind`).
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, src) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        // The built-in files are checked by a unit test, so an error here is a build mistake;
        // fall back rather than fail at run time.
        let base = Theme::fallback_dark();
        Theme::parse_over(base, src, Path::new(&format!("themes/{name}.toml"))).ok()
    }

    /// The dark theme written in code: the base every file lays over.
    fn fallback_dark() -> Theme {
        Theme {
            name: "dark".into(),
            background: Style::new(),
            text: Style::new().fg(Color::Gray),
            dim: Style::new().fg(Color::DarkGray),
            accent: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            ok: Style::new().fg(Color::Green),
            warn: Style::new().fg(Color::Yellow),
            error: Style::new().fg(Color::Red),
            border: Style::new().fg(Color::DarkGray),
            border_focused: Style::new().fg(Color::Cyan),
            title: Style::new().fg(Color::White).add_modifier(Modifier::BOLD),
            series: vec![
                Style::new().fg(Color::Cyan),
                Style::new().fg(Color::Magenta),
                Style::new().fg(Color::Yellow),
                Style::new().fg(Color::Green),
            ],
        }
    }

    /// No colours: roles told apart by bold, dim and underline only (for `NO_COLOR`).
    pub fn monochrome() -> Theme {
        let plain = Style::new();
        Theme {
            name: "monochrome".into(),
            background: plain,
            text: plain,
            dim: plain.add_modifier(Modifier::DIM),
            accent: plain.add_modifier(Modifier::BOLD),
            ok: plain,
            warn: plain.add_modifier(Modifier::BOLD),
            error: plain.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            border: plain,
            border_focused: plain.add_modifier(Modifier::BOLD),
            title: plain.add_modifier(Modifier::BOLD),
            series: vec![plain.add_modifier(Modifier::BOLD), plain],
        }
    }

    /// Parse a theme file's text and lay it over `base`. `path` only names the file in errors.
    pub fn parse_over(base: Theme, src: &str, path: &Path) -> Result<Theme, ThemeError> {
        let file = path.display().to_string();
        let table: toml::Table = src.parse().map_err(|e: toml::de::Error| ThemeError {
            message: format!(
                "theme file '{file}': not valid TOML: {}",
                e.message().trim()
            ),
        })?;
        // A file may name a built-in to lay over instead of the dark default.
        let mut theme = match table.get("base") {
            None => base,
            Some(toml::Value::String(b)) => match Theme::builtin(b) {
                Some(t) => t,
                None => {
                    return Err(ThemeError::key(
                        &file,
                        "base",
                        format!(
                            "'{b}' is not a built-in theme; use one of {}",
                            builtin_names()
                        ),
                    ))
                }
            },
            Some(_) => {
                return Err(ThemeError::key(
                    &file,
                    "base",
                    "expected a theme name in quotes".into(),
                ))
            }
        };
        theme.name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (key, value) in &table {
            match key.as_str() {
                "base" => {}
                "name" => match value {
                    toml::Value::String(n) => theme.name = n.clone(),
                    _ => return Err(ThemeError::key(&file, key, "expected a string".into())),
                },
                "series" => {
                    let toml::Value::Array(items) = value else {
                        return Err(ThemeError::key(
                            &file,
                            key,
                            "expected a list of colours, e.g. [\"cyan\", \"#ff8800\"]".into(),
                        ));
                    };
                    let mut series = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        series.push(parse_style(item, &file, &format!("series[{i}]"))?);
                    }
                    if !series.is_empty() {
                        theme.series = series;
                    }
                }
                k if STYLE_KEYS.contains(&k) => {
                    let style = parse_style(value, &file, k)?;
                    *theme.role_mut(k) = style;
                }
                other => {
                    return Err(ThemeError {
                        message: format!(
                            "theme file '{file}': unknown key '{other}'; known keys: name, base, {}, series",
                            STYLE_KEYS.join(", ")
                        ),
                    })
                }
            }
        }
        Ok(theme)
    }

    fn role_mut(&mut self, key: &str) -> &mut Style {
        match key {
            "background" => &mut self.background,
            "dim" => &mut self.dim,
            "accent" => &mut self.accent,
            "ok" => &mut self.ok,
            "warn" => &mut self.warn,
            "error" => &mut self.error,
            "border" => &mut self.border,
            "border_focused" => &mut self.border_focused,
            "title" => &mut self.title,
            _ => &mut self.text,
        }
    }

    /// Fit the theme to what the terminal can show.
    pub fn adapt(self, support: ColorSupport) -> Theme {
        match support {
            ColorSupport::TrueColor => self,
            ColorSupport::Monochrome => Theme::monochrome(),
            ColorSupport::Palette256 => self.map_styles(|s| Style {
                fg: s.fg.map(to_256),
                bg: s.bg.map(to_256),
                ..s
            }),
        }
    }

    fn map_styles(mut self, f: impl Fn(Style) -> Style) -> Theme {
        for key in STYLE_KEYS {
            let r = self.role_mut(key);
            *r = f(*r);
        }
        for s in &mut self.series {
            *s = f(*s);
        }
        self
    }
}

fn builtin_names() -> String {
    BUILTIN
        .iter()
        .map(|(n, _)| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A theme that could not be loaded; the message names the file and the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ThemeError {
    pub message: String,
}

impl ThemeError {
    fn key(file: &str, key: &str, what: String) -> ThemeError {
        ThemeError {
            message: format!("theme file '{file}': key '{key}': {what}"),
        }
    }
}

/// A colour string, or a table `{ fg, bg, bold, dim, italic, underline, reversed }`.
fn parse_style(value: &toml::Value, file: &str, key: &str) -> Result<Style, ThemeError> {
    let colour = |v: &toml::Value, k: &str| -> Result<Color, ThemeError> {
        match v {
            toml::Value::String(s) => s.parse::<Color>().map_err(|_| {
                ThemeError::key(
                    file,
                    k,
                    format!("'{s}' is not a colour; use a name such as 'cyan', '#rrggbb' or 0-255"),
                )
            }),
            toml::Value::Integer(i) => u8::try_from(*i).map(Color::Indexed).map_err(|_| {
                ThemeError::key(file, k, format!("'{i}' is not a palette index 0-255"))
            }),
            _ => Err(ThemeError::key(
                file,
                k,
                "expected a colour in quotes".into(),
            )),
        }
    };
    match value {
        toml::Value::Table(t) => {
            let mut style = Style::new();
            for (attr, v) in t {
                let k = format!("{key}.{attr}");
                let flag = |m: Modifier| -> Result<Option<Modifier>, ThemeError> {
                    match v {
                        toml::Value::Boolean(true) => Ok(Some(m)),
                        toml::Value::Boolean(false) => Ok(None),
                        _ => Err(ThemeError::key(file, &k, "expected true or false".into())),
                    }
                };
                let m = match attr.as_str() {
                    "fg" => {
                        style = style.fg(colour(v, &k)?);
                        None
                    }
                    "bg" => {
                        style = style.bg(colour(v, &k)?);
                        None
                    }
                    "bold" => flag(Modifier::BOLD)?,
                    "dim" => flag(Modifier::DIM)?,
                    "italic" => flag(Modifier::ITALIC)?,
                    "underline" => flag(Modifier::UNDERLINED)?,
                    "reversed" => flag(Modifier::REVERSED)?,
                    other => {
                        return Err(ThemeError {
                            message: format!(
                                "theme file '{file}': unknown key '{key}.{other}'; known keys: fg, bg, bold, dim, italic, underline, reversed"
                            ),
                        })
                    }
                };
                if let Some(m) = m {
                    style = style.add_modifier(m);
                }
            }
            Ok(style)
        }
        other => Ok(Style::new().fg(colour(other, key)?)),
    }
}

/// Nearest xterm-256 palette entry of an RGB colour (other colours pass through).
pub fn to_256(c: Color) -> Color {
    let Color::Rgb(r, g, b) = c else { return c };
    // The 6x6x6 cube uses levels 0, 95, 135, 175, 215, 255.
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let idx = |v: u8| -> usize {
        (0..6)
            .min_by_key(|&i| (LEVELS[i] as i32 - v as i32).abs())
            .unwrap_or(0)
    };
    let (ri, gi, bi) = (idx(r), idx(g), idx(b));
    let cube = (LEVELS[ri], LEVELS[gi], LEVELS[bi]);
    let dist = |(a, b2, c2): (u8, u8, u8)| -> i32 {
        let d = |x: u8, y: u8| (x as i32 - y as i32).pow(2);
        d(a, r) + d(b2, g) + d(c2, b)
    };
    // The grey ramp 232..=255 covers 8, 18, ..., 238.
    let avg = (r as i32 + g as i32 + b as i32) / 3;
    let gi2 = ((avg - 8).max(0) / 10).min(23) as u8;
    let grey = 8 + 10 * gi2;
    if dist((grey, grey, grey)) < dist(cube) {
        Color::Indexed(232 + gi2)
    } else {
        Color::Indexed(16 + 36 * ri as u8 + 6 * gi as u8 + bi as u8)
    }
}

/// Where a user's own themes live: `<config dir>/tokscope/themes/`.
pub fn user_theme_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("tokscope").join("themes"))
}

/// Resolve `--theme NAME|PATH` (None: dark) to a theme, before the terminal is touched.
///
/// A value with a path separator or a `.toml` ending is a file; otherwise a user file
/// `<config>/tokscope/themes/NAME.toml` wins over a built-in of the same name.
pub fn resolve(spec: Option<&str>, user_dir: Option<&Path>) -> Result<Theme, ThemeError> {
    let Some(spec) = spec else {
        return Ok(Theme::dark());
    };
    let looks_like_path = spec.contains('/') || spec.contains('\\') || spec.ends_with(".toml");
    let candidate = if looks_like_path {
        Some(PathBuf::from(spec))
    } else {
        user_dir
            .map(|d| d.join(format!("{spec}.toml")))
            .filter(|p| p.is_file())
    };
    match candidate {
        Some(path) => {
            let src = std::fs::read_to_string(&path).map_err(|e| ThemeError {
                message: format!("theme file '{}': cannot read it: {e}", path.display()),
            })?;
            Theme::parse_over(Theme::dark(), &src, &path)
        }
        None => Theme::builtin(spec).ok_or_else(|| ThemeError {
            message: format!(
                "theme '{spec}' not found; built-in themes are {}; or save it as '{}' or pass a path to a .toml file",
                builtin_names(),
                user_dir
                    .map(|d| d.join(format!("{spec}.toml")).display().to_string())
                    .unwrap_or_else(|| format!("{spec}.toml"))
            ),
        }),
    }
}

/// The themes `t` cycles through: the chosen one first, then the other built-ins, each fitted
/// to the terminal. Under `NO_COLOR` only the monochrome theme.
pub fn cycle_list(chosen: Theme, support: ColorSupport) -> Vec<Theme> {
    if support == ColorSupport::Monochrome {
        return vec![Theme::monochrome()];
    }
    let mut list = vec![chosen.clone().adapt(support)];
    for (name, _) in BUILTIN {
        if name != chosen.name {
            if let Some(t) = Theme::builtin(name) {
                list.push(t.adapt(support));
            }
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_file_parses_completely() {
        for (name, src) in BUILTIN {
            let t = Theme::parse_over(Theme::fallback_dark(), src, Path::new(name));
            let t = t.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(t.name, name);
            assert!(t.series.len() >= 2, "{name} has too few series colours");
        }
    }

    #[test]
    fn colour_support_from_env() {
        use ColorSupport::*;
        let cases = [
            (Some("1"), Some("truecolor"), Monochrome),
            (Some(""), Some("truecolor"), TrueColor),
            (None, Some("24bit"), TrueColor),
            (None, Some("TrueColor"), TrueColor),
            (None, None, Palette256),
            (None, Some("256"), Palette256),
        ];
        for (nc, ct, want) in cases {
            assert_eq!(ColorSupport::from_env_values(nc, ct), want, "{nc:?} {ct:?}");
        }
    }

    #[test]
    fn rgb_maps_to_the_nearest_palette_entry() {
        assert_eq!(to_256(Color::Rgb(255, 0, 0)), Color::Indexed(196));
        assert_eq!(to_256(Color::Rgb(0, 0, 0)), Color::Indexed(16));
        assert_eq!(to_256(Color::Rgb(128, 128, 128)), Color::Indexed(244));
        assert_eq!(to_256(Color::Cyan), Color::Cyan);
    }

    #[test]
    fn palette_adaptation_leaves_no_rgb() {
        for (name, _) in BUILTIN {
            let t = Theme::builtin(name).map(|t| t.adapt(ColorSupport::Palette256));
            let t = t.unwrap_or_else(|| panic!("{name}"));
            let mut styles = vec![t.background, t.text, t.dim, t.accent, t.ok, t.warn];
            styles.extend([t.error, t.border, t.border_focused, t.title]);
            styles.extend(t.series.iter().copied());
            for s in styles {
                assert!(!matches!(s.fg, Some(Color::Rgb(..))), "{name}: {s:?}");
                assert!(!matches!(s.bg, Some(Color::Rgb(..))), "{name}: {s:?}");
            }
        }
    }
}
