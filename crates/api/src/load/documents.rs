//! What a load read, document by document: the key of each document's text,
//! where it starts and which Service it gave. The next load of the same
//! files compares against it, to share the Services of unchanged documents
//! ([`load_paths_reusing`](super::load_paths_reusing)) or, when only a few
//! Service documents changed, to patch the snapshot in place
//! ([`edit_services`](super::edit_services)).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::quality::RandomState;

use crate::service::LbServiceFields;
use crate::snapshot::Snapshot;

/// Two independent 64-bit hashes of a document's text, and its length.
pub(crate) type DocumentKey = (u64, u64, usize);

/// Two hashers with independent random seeds: the key of a document is 128
/// bits and its length, so two different documents never meet in practice.
/// (foldhash reads a 13 MB file in a few milliseconds, several times faster
/// than SipHash.)
#[derive(Clone, Debug, Default)]
pub(crate) struct Hashers(RandomState, RandomState);

impl Hashers {
    pub(crate) fn key(&self, text: &str) -> DocumentKey {
        (self.0.hash_one(text), self.1.hash_one(text), text.len())
    }

    /// A Service's name, hashed (see [`ServiceDocuments::names`]).
    pub(crate) fn name(&self, service: &LbServiceFields) -> u64 {
        self.0.hash_one((&*service.namespace, &*service.name))
    }
}

/// One document of a file, as loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DocumentRecord {
    pub key: DocumentKey,
    /// The file line it starts on.
    pub first_line: u32,
    /// How many Services the snapshot held before this document's.
    pub services_before: u32,
    /// The line of its Service counted from `first_line`, when the document
    /// held exactly one Service and nothing else, without a problem (such a
    /// document can be reused or replaced alone); `u32::MAX` otherwise.
    service_line: u32,
}

impl DocumentRecord {
    pub(crate) fn new(
        key: DocumentKey,
        first_line: u32,
        services_before: usize,
        service_line: Option<u32>,
    ) -> Self {
        DocumentRecord {
            key,
            first_line,
            services_before: u32::try_from(services_before).unwrap_or(u32::MAX),
            service_line: service_line.unwrap_or(u32::MAX),
        }
    }

    /// The line of its one Service in the document, if it is a plain Service document.
    pub(crate) fn service_line(&self) -> Option<u32> {
        (self.service_line != u32::MAX).then_some(self.service_line)
    }
}

/// The documents of one file.
#[derive(Clone, Debug)]
pub(crate) struct FileDocuments {
    /// The file as locations name it.
    pub name: Arc<str>,
    /// In order; `None` when the file could not be split into documents
    /// (directives, `...` markers): it is read as a whole every time.
    pub documents: Option<Vec<DocumentRecord>>,
    /// The snapshot's Services read from this file.
    pub services: std::ops::Range<u32>,
}

/// What a load read, file by file, for the next load of the same files.
#[derive(Clone, Debug, Default)]
pub struct ServiceDocuments {
    pub(crate) files: Vec<FileDocuments>,
    pub(crate) hashers: Hashers,
    /// How many Services bear each name (hashed namespace and name): a
    /// Service whose name another one bears cannot be edited alone, since
    /// the first of a name counts.
    pub(crate) names: HashMap<u64, u32, foldhash::fast::RandomState>,
}

impl ServiceDocuments {
    /// How many documents gave exactly one Service (those that can be reused).
    pub fn len(&self) -> usize {
        self.records().filter(|r| r.service_line().is_some()).count()
    }

    /// Whether none did.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn records(&self) -> impl Iterator<Item = &DocumentRecord> {
        self.files.iter().flat_map(|f| f.documents.iter().flatten())
    }

    /// The Services a full load may share, by the key of their document.
    pub(crate) fn reusable(&self) -> ReusableServices {
        let services = self.files.iter().map(|f| f.services.len()).sum();
        let mut by_key = HashMap::with_capacity_and_hasher(services, Default::default());
        by_key.extend(self.records().filter_map(|r| {
            let line_in_document = r.service_line()?;
            Some((r.key, Origin { index: r.services_before as usize, line_in_document }))
        }));
        by_key
    }
}

/// Services of the last load by the key of their document.
pub(crate) type ReusableServices = HashMap<DocumentKey, Origin, foldhash::fast::RandomState>;

/// Where a reusable Service is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin {
    /// Its index in the snapshot's Services.
    pub index: usize,
    /// Its line counted from its document's first line.
    pub line_in_document: u32,
}

/// The documents one loader (or one of its threads) reads.
#[derive(Clone)]
pub(crate) struct Recording {
    hashers: Hashers,
    files: Vec<FileDocuments>,
}

impl Recording {
    pub(crate) fn new(hashers: Hashers) -> Recording {
        Recording { hashers, files: Vec::new() }
    }

    /// For a thread reading a run of the current file's documents.
    pub(crate) fn emptied(&self) -> Recording {
        let file = FileDocuments { name: Arc::from(""), documents: Some(Vec::new()), services: 0..0 };
        Recording { hashers: self.hashers.clone(), files: vec![file] }
    }

    pub(crate) fn key(&self, text: &str) -> DocumentKey {
        self.hashers.key(text)
    }

    /// A file starts, its first Service at `first_service`; `split` if its
    /// documents are read one by one (and so recorded).
    pub(crate) fn start_file(&mut self, name: &Arc<str>, first_service: usize, split: bool) {
        let first = u32::try_from(first_service).unwrap_or(u32::MAX);
        self.files.push(FileDocuments {
            name: Arc::clone(name),
            documents: split.then(Vec::new),
            services: first..first,
        });
    }

    /// The current file ends, its Services before `services_end`.
    pub(crate) fn end_file(&mut self, services_end: usize) {
        if let Some(file) = self.files.last_mut() {
            file.services.end = u32::try_from(services_end).unwrap_or(u32::MAX);
        }
    }

    pub(crate) fn record(&mut self, record: DocumentRecord) {
        if let Some(documents) = self.files.last_mut().and_then(|f| f.documents.as_mut()) {
            documents.push(record);
        }
    }

    /// Appends what a thread recorded, its Services counted from `offset`.
    pub(crate) fn append_part(&mut self, part: Recording, offset: usize) {
        let offset = u32::try_from(offset).unwrap_or(u32::MAX);
        for file in part.files {
            for mut record in file.documents.into_iter().flatten() {
                record.services_before += offset;
                self.record(record);
            }
        }
    }

    /// What was read, for the next load; `snapshot` is what it gave.
    pub(crate) fn finish(self, snapshot: &Snapshot) -> ServiceDocuments {
        let mut names = HashMap::with_capacity_and_hasher(snapshot.services.len(), Default::default());
        for service in &snapshot.services {
            *names.entry(self.hashers.name(service)).or_insert(0) += 1;
        }
        ServiceDocuments { files: self.files, hashers: self.hashers, names }
    }
}
