//! `qXfer:osdata:read`: the host tables `info os` shows, in gdbserver's XML. The tables are the
//! process layer's (`process::os_table`, read from /proc); this writes them.
//!
//! Protocol quirks met here:
//! - gdbstub 0.7 has no `qXfer:osdata`: the tap answers it and `qSupported` advertises it
//!   through the vendored `extra_supported_features`, as gdbserver does.
//! - The annex names the table; an empty annex is the list of types (columns `Type`,
//!   `Description`, `Title`). An unknown type is an empty object (`l`), which gdb reports as
//!   "Empty data returned by target. Wrong osdata type?", as with gdbserver.
//! - The document is `<osdata type="T">\n<item><column name="C">V</column>…</item>…</osdata>\n`
//!   (gdbserver's spacing); it is built at offset 0 and later chunks come from that copy, so a
//!   table that changes between chunks cannot tear. The reply is binary data, the text
//!   entity-escaped.

use super::error::reply;
use super::lldb::hex_pair;
use super::xfer::escape_into;
use super::xfer_threads::xfer_chunk;
use super::{GdbTarget, StubError};
use crate::process::{os_table, OsTable, OS_TABLE_TYPES};

/// The packet prefix the tap hands to [`GdbTarget::xfer_osdata`].
pub const PREFIX: &str = "qXfer:osdata:read:";

impl GdbTarget {
    /// The reply to `qXfer:osdata:read:ANNEX:OFFSET,LENGTH`.
    pub fn xfer_osdata(&mut self, args: &str) -> Vec<u8> {
        let parsed = args.split_once(':').and_then(|(annex, window)| {
            let (offset, len) = hex_pair(window)?;
            Some((annex, usize::try_from(offset).ok()?, len))
        });
        let Some((annex, offset, len)) = parsed else {
            return reply(StubError::BadArgument(args.to_string())).into_bytes();
        };
        if offset == 0 {
            self.osdata_xml = document(annex).into_bytes();
        }
        xfer_chunk(&self.osdata_xml, offset, len)
    }
}

/// The XML of table `annex` (the types for an empty annex; nothing for an unknown type).
fn document(annex: &str) -> String {
    let table = match annex {
        "" => OsTable {
            kind: "types",
            rows: OS_TABLE_TYPES
                .iter()
                .map(|t| {
                    [
                        ("Type", t.name),
                        ("Description", t.description),
                        ("Title", t.title),
                    ]
                    .map(|(c, v)| (c.to_string(), v.to_string()))
                    .to_vec()
                })
                .collect(),
        },
        other => match os_table(other) {
            Some(table) => table,
            None => return String::new(),
        },
    };
    let mut xml = format!("<osdata type=\"{}\">\n", table.kind);
    for row in &table.rows {
        xml.push_str("<item>");
        for (column, value) in row {
            xml.push_str("<column name=\"");
            escape_into(&mut xml, column);
            xml.push_str("\">");
            escape_into(&mut xml, value);
            xml.push_str("</column>");
        }
        xml.push_str("</item>");
    }
    xml.push_str("</osdata>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::document;

    #[test]
    fn the_types_list_is_gdbservers() {
        let types = document("");
        assert!(types.starts_with("<osdata type=\"types\">\n<item><column name=\"Type\">cpus</column><column name=\"Description\">Listing of all cpus/cores on the system</column><column name=\"Title\">CPUs</column></item>"));
        assert!(types.ends_with("</item></osdata>\n"));
        assert_eq!(types.matches("<item>").count(), 10);
        assert_eq!(document("unknown_entry"), "");
        assert!(document("processes")
            .starts_with("<osdata type=\"processes\">\n<item><column name=\"pid\">"));
    }
}
