//! A report as a list of blocks (headings, tables, lines, charts) built once from the runs, then
//! written as Markdown (`markdown`), one self-contained HTML page (`html`), CSV (`csv`, seed
//! 003's columns first) and JSON (`json`). `sections` decides what the blocks say; `charts` draws.

pub mod charts;
pub mod csv;
pub mod html;
pub mod json;
pub mod markdown;
pub mod sections;
pub mod text;

use crate::report::figure::Lang;

/// How a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub lang: Lang,
    /// Places kept below 1,000 (seed 001 writes 2, seed 002 writes 4).
    pub decimals: usize,
    /// Index of the baseline among the groups.
    pub baseline: usize,
}

/// Column alignment in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table: a header row and rows of cells already formatted.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub align: Vec<Align>,
    pub rows: Vec<Vec<String>>,
}

/// A chart: the SVG file it is written to (beside the Markdown) and its SVG text.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub file: String,
    pub title: String,
    pub svg: String,
}

/// One piece of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(u8, String),
    Paragraph(String),
    Bullets(Vec<String>),
    Table(Table),
    Chart(Chart),
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub blocks: Vec<Block>,
}

impl Document {
    pub fn charts(&self) -> impl Iterator<Item = &Chart> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Chart(c) => Some(c),
            _ => None,
        })
    }
}
