//! [`edit_services`]: what a reload changed, when it changed only Services,
//! as a patch to the snapshot in force rather than a new snapshot.
//!
//! A file of 100,000 Services gains one. Loading it again, even sharing
//! every unchanged Service ([`load_paths_reusing`](super::load_paths_reusing)),
//! builds a new list of 100,000 Services; the patch touches one. The
//! documents of the file are compared with those of the last load by the
//! key of their text, from the top and from the bottom: what lies between
//! the first and the last difference (the window) is what changed. The
//! short way is taken only when the result is exactly what a full load
//! would give (a test compares them):
//!
//! - one file changed, and every document in its window, before and after,
//!   holds exactly one Service and nothing else, read without a problem;
//! - no Service in the window shares its namespace and name with another
//!   Service: of two, the first counts, so their order would matter.
//!
//! Everything below the window keeps its objects; their lines move.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Loader;
use super::documents::{DocumentKey, DocumentRecord, ServiceDocuments};
use crate::diagnostic::Location;
use crate::service::LbService;
use crate::snapshot::{Located, Snapshot};
use crate::yaml;

/// A change to the Services of one file, found by [`edit_services`], to
/// apply to the snapshot and documents it was found against.
#[derive(Debug, Default)]
pub struct ServicesEdit {
    /// The changed file, by its place among the documents' files.
    file: usize,
    /// The window, in the last load's documents of that file.
    old_documents: Range<usize>,
    /// The documents in its place (their Services counted from `removed.start`).
    new_documents: Vec<DocumentRecord>,
    /// The snapshot's Services the window held.
    removed: Range<usize>,
    /// Which of those come back unchanged (the same object, on another line).
    carried: Vec<bool>,
    /// The Services in their place, in order.
    added: Vec<Located<LbService>>,
    /// Which of those are new or changed.
    fresh: Vec<bool>,
    /// The first line below the window, before the edit; and how far
    /// everything from there moves.
    below: u32,
    shift: i64,
}

/// What [`ServicesEdit::apply`] changed.
#[derive(Debug, Default)]
pub struct AppliedEdit {
    /// The Services gone: removed, or replaced by another version.
    pub removed: Vec<LbService>,
    /// The snapshot's indices of the Services new or changed, in order.
    pub added: Vec<usize>,
}

impl ServicesEdit {
    /// Whether the files are as they were.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }

    /// Applies the edit to `snapshot` and `documents`, those it was found
    /// against: they become what a full load of the files would give.
    pub fn apply(self, snapshot: &mut Snapshot, documents: &mut ServiceDocuments) -> AppliedEdit {
        if self.is_empty() {
            return AppliedEdit::default();
        }
        let ServicesEdit { file, old_documents, new_documents, removed, carried, added, fresh, below, shift } =
            self;
        for (gone, carried) in snapshot.services.range(removed.clone()).zip(&carried) {
            if !carried {
                decrement(&mut documents.names, documents.hashers.name(gone));
            }
        }
        for (service, fresh) in added.iter().zip(&fresh) {
            if *fresh {
                *documents.names.entry(documents.hashers.name(service)).or_insert(0) += 1;
            }
        }
        let start = removed.start;
        let added_count = added.len();
        let growth = added_count as i64 - removed.len() as i64;
        let gone: Vec<LbService> = snapshot
            .services
            .splice(removed, added)
            .into_iter()
            .zip(carried)
            .filter(|(_, carried)| !carried)
            .map(|(s, _)| s.object)
            .collect();

        let name = Arc::clone(&documents.files[file].name);
        let file_end = (i64::from(documents.files[file].services.end) + growth) as usize;
        for service in snapshot.services.range_mut(start + added_count..file_end) {
            service.shift_lines(shift);
        }
        shift_objects_below(snapshot, &name, below, shift);

        for (i, f) in documents.files.iter_mut().enumerate() {
            let moved = |n: u32| (i64::from(n) + growth) as u32;
            if i == file {
                f.services.end = moved(f.services.end);
                if let Some(records) = &mut f.documents {
                    let new: Vec<DocumentRecord> = new_documents
                        .iter()
                        .map(|r| {
                            let mut r = *r;
                            r.services_before += start as u32;
                            r
                        })
                        .collect();
                    let end = old_documents.start + new.len();
                    records.splice(old_documents.clone(), new);
                    for r in &mut records[end..] {
                        r.first_line = (i64::from(r.first_line) + shift) as u32;
                        r.services_before = moved(r.services_before);
                    }
                }
            } else if i > file {
                f.services = moved(f.services.start)..moved(f.services.end);
                for r in f.documents.iter_mut().flatten() {
                    r.services_before = moved(r.services_before);
                }
            }
        }
        let added =
            (start..start + added_count).zip(fresh).filter(|(_, fresh)| *fresh).map(|(i, _)| i).collect();
        AppliedEdit { removed: gone, added }
    }
}

fn decrement(names: &mut HashMap<u64, u32, foldhash::fast::RandomState>, name: u64) {
    if let Some(count) = names.get_mut(&name) {
        *count -= 1;
        if *count == 0 {
            names.remove(&name);
        }
    }
}

/// Moves every object of `file` (but Services) at or below line `below` by `shift` lines.
fn shift_objects_below(snapshot: &mut Snapshot, file: &Arc<str>, below: u32, shift: i64) {
    fn shift_all<T>(objects: &mut [Located<T>], file: &Arc<str>, below: u32, shift: i64) {
        for object in objects.iter_mut().filter(|o| *o.location.file == **file && o.location.line >= below) {
            object.shift_lines(shift);
        }
    }
    if shift == 0 {
        return;
    }
    let s = snapshot;
    shift_all(&mut s.pools, file, below, shift);
    shift_all(&mut s.l2_advertisements, file, below, shift);
    shift_all(&mut s.bgp_advertisements, file, below, shift);
    shift_all(&mut s.bgp_peers, file, below, shift);
    shift_all(&mut s.bfd_profiles, file, below, shift);
    shift_all(&mut s.communities, file, below, shift);
    shift_all(&mut s.nodes, file, below, shift);
    shift_all(&mut s.namespaces, file, below, shift);
    shift_all(&mut s.endpoint_slices, file, below, shift);
    shift_all(&mut s.secrets, file, below, shift);
}

/// What changed in the files at `paths` since `snapshot` and `documents`
/// were loaded from them, if only Services changed and the short way
/// agrees with a full load (see the module); `None` when a full load is
/// needed. An empty edit when nothing changed.
pub fn edit_services<P: AsRef<Path>>(
    paths: &[P],
    snapshot: &Snapshot,
    documents: &ServiceDocuments,
) -> Option<ServicesEdit> {
    let mut files = Vec::new();
    for path in paths {
        files.extend(files_in(path.as_ref())?);
    }
    if files.len() != documents.files.len() {
        return None;
    }
    let mut edit = None;
    for (i, (path, recorded)) in files.iter().zip(&documents.files).enumerate() {
        if *recorded.name != *path.display().to_string() {
            return None;
        }
        let records = recorded.documents.as_deref()?;
        let text = std::fs::read_to_string(path).ok()?;
        let new = yaml::documents(&text)?;
        let keys = Keys { new: &new, documents };
        let (prefix, suffix) = keys.common_ends(records);
        if prefix == records.len() && prefix == new.len() {
            continue;
        }
        if edit.is_some() {
            return None; // a second file changed
        }
        let window = Window {
            old: prefix..records.len() - suffix,
            new: prefix..new.len() - suffix,
            services_end: recorded.services.end as usize,
        };
        let mut found = window.edit(snapshot, documents, records, &new, &recorded.name)?;
        found.file = i;
        edit = Some(found);
    }
    Some(edit.unwrap_or_default())
}

/// The keys of a file's new documents.
struct Keys<'k, 'a> {
    new: &'k [yaml::Document<'a>],
    documents: &'k ServiceDocuments,
}

impl Keys<'_, '_> {
    fn key(&self, i: usize) -> DocumentKey {
        self.documents.hashers.key(self.new[i].text)
    }

    /// How many documents the file and `records` have in common at its top,
    /// and then at its bottom.
    fn common_ends(&self, records: &[DocumentRecord]) -> (usize, usize) {
        let (old, new) = (records.len(), self.new.len());
        let mut prefix = 0;
        while prefix < old.min(new) && records[prefix].key == self.key(prefix) {
            prefix += 1;
        }
        let mut suffix = 0;
        while suffix < (old - prefix).min(new - prefix)
            && records[old - 1 - suffix].key == self.key(new - 1 - suffix)
        {
            suffix += 1;
        }
        (prefix, suffix)
    }
}

/// The documents that changed: `old` in the last load's, `new` in the file's.
struct Window {
    old: Range<usize>,
    new: Range<usize>,
    /// Where the file's Services ended in the snapshot.
    services_end: usize,
}

impl Window {
    fn edit(
        &self,
        snapshot: &Snapshot,
        documents: &ServiceDocuments,
        records: &[DocumentRecord],
        new: &[yaml::Document<'_>],
        file: &Arc<str>,
    ) -> Option<ServicesEdit> {
        let old = &records[self.old.clone()];
        if old.iter().any(|r| r.service_line().is_none()) {
            return None;
        }
        let start = records.get(self.old.start).map_or(self.services_end, |r| r.services_before as usize);
        let removed = start..start + old.len();
        if removed.end > snapshot.services.len() {
            return None;
        }
        let before: Vec<&Located<LbService>> = snapshot.services.range(removed.clone()).collect();
        let mut unclaimed: HashMap<DocumentKey, Vec<usize>> = HashMap::new();
        for (i, record) in old.iter().enumerate().rev() {
            unclaimed.entry(record.key).or_default().push(i);
        }
        let mut edit = ServicesEdit { removed, carried: vec![false; old.len()], ..ServicesEdit::default() };
        let mut parser = Loader::default();
        for document in &new[self.new.clone()] {
            let key = documents.hashers.key(document.text);
            let services_before = edit.added.len();
            let (service, line_in_document, fresh) = match unclaimed.get_mut(&key).and_then(Vec::pop) {
                Some(i) => {
                    edit.carried[i] = true;
                    let line_in_document = old[i].service_line()?;
                    (Located::clone(before[i]), line_in_document, false)
                }
                None => {
                    let line_in_document = parser.add_one(file, document)?;
                    (parser.snapshot.services.pop()?, line_in_document, true)
                }
            };
            let location = Location { file: Arc::clone(file), line: document.first_line + line_in_document };
            edit.added.push(service.relocated(location));
            edit.fresh.push(fresh);
            edit.new_documents.push(DocumentRecord::new(
                key,
                document.first_line,
                services_before,
                Some(line_in_document),
            ));
        }
        if !names_are_unique(documents, &before, &edit) {
            return None;
        }
        edit.old_documents = self.old.clone();
        if let (Some(below_before), Some(below_now)) = (records.get(self.old.end), new.get(self.new.end)) {
            edit.below = below_before.first_line;
            edit.shift = i64::from(below_now.first_line) - i64::from(below_before.first_line);
        }
        Some(edit)
    }
}

/// Whether no Service the edit removes or adds bears a name that another
/// Service bears (outside the window, or twice in it after the edit).
fn names_are_unique(
    documents: &ServiceDocuments,
    before: &[&Located<LbService>],
    edit: &ServicesEdit,
) -> bool {
    let mut in_window: HashMap<u64, (u32, u32)> = HashMap::new();
    for service in before {
        in_window.entry(documents.hashers.name(service)).or_default().0 += 1;
    }
    for service in &edit.added {
        in_window.entry(documents.hashers.name(service)).or_default().1 += 1;
    }
    in_window.iter().all(|(name, &(was, now))| {
        let elsewhere = documents.names.get(name).copied().unwrap_or(0).saturating_sub(was);
        elsewhere == 0 && now <= 1
    })
}

/// The files a path stands for, as a load reads them: `None` for standard input.
fn files_in(path: &Path) -> Option<Vec<PathBuf>> {
    if path == Path::new("-") {
        return None;
    }
    if path.is_dir() { super::config_files_in(path).ok() } else { Some(vec![path.to_path_buf()]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{load_paths, load_paths_reusing};

    /// A Service document; its loadBalancerSourceRanges keep a line, which
    /// must move with the document as any object's.
    fn service(name: &str) -> String {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: LoadBalancer\n  \
             loadBalancerSourceRanges: [198.51.100.0/24]\n"
        )
    }

    const POOL: &str = "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec:\n  addresses:\n  - 192.0.2.0/24\n";

    /// A directory of its own for one test.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("ferrolb-edit-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        fn write(&self, file: &str, text: &str) -> PathBuf {
            let path = self.0.join(file);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Every object of both, with its place and field lines, is the same.
    fn assert_same(a: &Snapshot, b: &Snapshot) {
        assert_eq!(a.services, b.services, "Services");
        assert_eq!(a.pools, b.pools, "pools");
        assert_eq!(a.nodes, b.nodes, "nodes");
        assert_eq!(a.namespaces, b.namespaces, "namespaces");
        assert!(a.same_except_services(b));
    }

    /// What the edit's documents must match: a reload of the same files
    /// with the same hashers.
    fn assert_same_documents(a: &ServiceDocuments, b: &ServiceDocuments) {
        let records = |d: &ServiceDocuments| {
            d.files
                .iter()
                .map(|f| (f.name.to_string(), f.documents.clone(), f.services.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(records(a), records(b));
        assert_eq!(a.names, b.names);
    }

    /// Loads `path`, then, after `change` rewrote it, edits: checks the edit
    /// gives what a full load gives; returns what was applied (`None`: no
    /// short way).
    fn edit_after(path: &Path, before: &str, after: &str) -> Option<AppliedEdit> {
        std::fs::write(path, before).unwrap();
        let (mut snapshot, diagnostics, mut documents) = load_paths_reusing(&[path], None);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        std::fs::write(path, after).unwrap();
        let edit = edit_services(&[path], &snapshot, &documents)?;
        let (_, _, reloaded) = load_paths_reusing(&[path], Some((&snapshot, &documents)));
        let applied = edit.apply(&mut snapshot, &mut documents);
        let (fresh, _) = load_paths(&[path]);
        assert_same(&snapshot, &fresh);
        assert_same_documents(&documents, &reloaded);
        Some(applied)
    }

    fn names(applied: &AppliedEdit, snapshot_after: &str, path: &Path) -> (Vec<String>, Vec<String>) {
        std::fs::write(path, snapshot_after).unwrap();
        let (fresh, _) = load_paths(&[path]);
        let gone = applied.removed.iter().map(|s| s.name.to_string()).collect();
        let added = applied.added.iter().map(|&i| fresh.services[i].name.to_string()).collect();
        (gone, added)
    }

    #[test]
    fn appending_a_service_adds_it_and_nothing_else() {
        let dir = Dir::new("append");
        let path = dir.0.join("c.yaml");
        let before = [POOL.to_owned(), service("a"), service("b")].concat();
        let after = before.clone() + &service("c");
        let applied = edit_after(&path, &before, &after).expect("the short way");
        assert_eq!(names(&applied, &after, &path), (vec![], vec!["c".to_owned()]));
    }

    #[test]
    fn an_edit_in_the_middle_moves_the_lines_below_it() {
        let dir = Dir::new("middle");
        let path = dir.0.join("c.yaml");
        let before = [service("a"), service("b"), service("c"), POOL.to_owned()].concat();
        // `b` gets two more lines: `c` and the pool below move down by two.
        let edited =
            service("b").replace("type: LoadBalancer\n", "type: LoadBalancer\n  ports:\n  - {port: 80}\n");
        let after = [service("a"), edited, service("c"), POOL.to_owned()].concat();
        let applied = edit_after(&path, &before, &after).expect("the short way");
        assert_eq!(names(&applied, &after, &path), (vec!["b".to_owned()], vec!["b".to_owned()]));
        // Removed, inserted, and moved within the window.
        let after = [service("c"), service("a"), service("x"), POOL.to_owned()].concat();
        let applied = edit_after(&path, &before, &after).expect("the short way");
        let (gone, added) = names(&applied, &after, &path);
        assert_eq!((gone, added), (vec!["b".to_owned()], vec!["x".to_owned()]), "a and c are carried over");
        // Unchanged.
        let applied = edit_after(&path, &before, &before).expect("nothing to do");
        assert!(applied.removed.is_empty() && applied.added.is_empty());
    }

    #[test]
    fn anything_but_a_plain_service_document_takes_the_long_way() {
        let dir = Dir::new("long");
        let path = dir.0.join("c.yaml");
        let base = [service("a"), service("b")].concat();
        // A pool added, a Service with a problem, a Service beside another
        // object in a List, a name another Service bears.
        let list = "---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: l}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: n}\n";
        for after in [
            base.clone() + POOL,
            base.clone() + &service("c").replace("spec:", "spec:\n  typo: 1"),
            base.clone() + list,
            base.clone() + &service("a"),
            [service("a"), service("a")].concat(),
        ] {
            assert!(edit_after(&path, &base, &after).is_none(), "{after}");
        }
    }

    #[test]
    fn a_directory_edits_the_one_file_that_changed() {
        let dir = Dir::new("dir");
        let first = [POOL.to_owned(), service("a"), service("b")].concat();
        let second = [service("m"), service("n")].concat();
        dir.write("1.yaml", &first);
        dir.write("2.yaml", &second);
        let (mut snapshot, _, mut documents) = load_paths_reusing(&[&dir.0], None);
        dir.write("1.yaml", &[POOL.to_owned(), service("a"), service("z"), service("b")].concat());
        let edit = edit_services(&[&dir.0], &snapshot, &documents).expect("the short way");
        let applied = edit.apply(&mut snapshot, &mut documents);
        assert_eq!(applied.added, [1], "z, after a");
        let (fresh, _) = load_paths(&[&dir.0]);
        assert_same(&snapshot, &fresh);
        // Both files changed: the long way.
        dir.write("2.yaml", &service("m"));
        dir.write("1.yaml", &first);
        assert!(edit_services(&[&dir.0], &snapshot, &documents).is_none());
    }

    proptest::proptest! {
        /// Whatever the edit, the short way (when taken) gives what a full load gives.
        #[test]
        fn an_edit_gives_what_a_full_load_gives(
            before in proptest::collection::vec(0u8..12, 0..12),
            after in proptest::collection::vec(0u8..12, 0..12),
        ) {
            // 0..8: Services s0..s7 (some with an extra line), 8: a pool, 9..12: Namespaces.
            let document = |i: u8| match i {
                0..4 => service(&format!("s{i}")),
                4..8 => service(&format!("s{}", i - 4)).replace("spec:", "spec:\n  ports: [{port: 80}]"),
                8 => POOL.to_owned(),
                _ => format!("---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: n{i}}}\n"),
            };
            let unique = |docs: &[u8]| {
                let mut seen = std::collections::HashSet::new();
                docs.iter().filter(|&&d| seen.insert(if d < 8 { d % 4 } else { d })).map(|&d| document(d)).collect::<String>()
            };
            let dir = Dir::new(&format!("prop-{}", before.len() * 100 + after.len()));
            let path = dir.0.join("c.yaml");
            edit_after(&path, &unique(&before), &unique(&after));
        }
    }
}
