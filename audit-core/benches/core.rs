//! audit-core benchmarks, each next to ct-merkle 0.3 on the same inputs where ct-merkle can
//! hold them. Run: `cargo bench -p audit-core -- --warm-up-time 1 --measurement-time 3`.
//!
//! Trees of a billion leaves cannot be held in memory, so those benches read a synthetic
//! `UniformTree` (every leaf equal, nodes computed in O(1)): the work per proof — node reads
//! and hashing — is the same as for a stored tree, minus the storage latency.

// Benches may unwrap: a panic is how they fail.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use sha2::Sha256;

use audit_core::hash::leaf_hash;
use audit_core::merkle::{
    consistency_proof, inclusion_proof, range_proof, root_from_source, verify_consistency, verify_inclusion,
    verify_range,
};
use audit_core::{
    chain_hash, genesis, ChainLink, CompactRange, EventId, EventInput, Hash, LedgerId, MemoryTree, Seq, TreeSize,
    UniformTree,
};

const MILLION: u64 = 1_000_000;
const BILLION: u64 = 1_000_000_000;

fn leaf_data(i: u64) -> Vec<u8> {
    i.to_le_bytes().to_vec()
}

fn sample_input() -> EventInput {
    serde_json::from_str(
        r#"{"id": "evt_01JDX3K9ZQ", "actor": {"type": "user", "id": "u_123", "name": "Jane Doe"},
            "action": "invoice.updated", "resource": {"type": "invoice", "id": "inv_42", "name": "Invoice 42"},
            "occurred_at": "2026-11-26T10:00:00.123+01:00",
            "metadata": {"ip": "203.0.113.7", "changes": {"amount": [100, 120.5], "currency": "EUR"},
                         "user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "request_id": "req_8f2c"}}"#,
    )
    .unwrap()
}

fn event_hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("event");
    g.throughput(Throughput::Elements(1));
    let input = sample_input();
    g.bench_function("validate+jcs+leaf_hash", |b| {
        b.iter_batched(
            || input.clone(),
            |i| i.into_event(|| EventId::new("x").unwrap()).unwrap().leaf_hash(),
            BatchSize::SmallInput,
        )
    });
    let event = input.into_event(|| EventId::new("x").unwrap()).unwrap();
    g.bench_function("entry+leaf_hash", |b| b.iter(|| black_box(&event).leaf_hash()));
    g.finish();
}

fn chain_verification(c: &mut Criterion) {
    let n = 100_000u64;
    let ledger = LedgerId::new("bench").unwrap();
    let mut prev = genesis(&ledger);
    let links: Vec<ChainLink> = (0..n)
        .map(|i| {
            let leaf = leaf_hash(&leaf_data(i));
            prev = chain_hash(&prev, &leaf);
            ChainLink { leaf_hash: leaf, chain_hash: prev }
        })
        .collect();
    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(n));
    g.bench_function("verify_segment/100k", |b| b.iter(|| verify_chain(&ledger, &links)));
    g.finish();
}

fn verify_chain(ledger: &LedgerId, links: &[ChainLink]) -> Hash {
    audit_core::verify_chain_segment(&genesis(ledger), Seq(0), links).unwrap()
}

fn merkle_append(c: &mut Criterion) {
    let n = 100_000u64;
    let data: Vec<Vec<u8>> = (0..n).map(leaf_data).collect();
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(n));
    g.bench_function("audit-core CompactRange (leaf hash + push + persist callback)/100k", |b| {
        b.iter(|| {
            let mut range = CompactRange::default();
            let mut completed = 0u64;
            for d in &data {
                range.push_with(leaf_hash(d), |_, _| completed += 1);
            }
            (range.root(), completed)
        })
    });
    g.bench_function("audit-core MemoryTree (leaf hash + push)/100k", |b| {
        b.iter(|| {
            let mut tree = MemoryTree::default();
            for d in &data {
                tree.push(leaf_hash(d));
            }
            tree.root()
        })
    });
    g.bench_function("ct-merkle MemoryBackedTree push/100k", |b| {
        b.iter(|| {
            let mut tree = MemoryBackedTree::<Sha256, Vec<u8>>::new();
            for d in &data {
                tree.push(d.clone());
            }
            tree.root()
        })
    });
    g.bench_function("ct-merkle MemoryBackedTree push (data pre-cloned)/100k", |b| {
        b.iter_batched(
            || data.clone(),
            |data| {
                let mut tree = MemoryBackedTree::<Sha256, Vec<u8>>::new();
                for d in data {
                    tree.push(d);
                }
                tree.root()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn proofs_1m(c: &mut Criterion) {
    let n = MILLION;
    let ours = MemoryTree::from_leaves((0..n).map(|i| leaf_hash(&leaf_data(i))));
    let mut theirs = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    let mut theirs_old = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    for i in 0..n {
        theirs.push(leaf_data(i));
        if i < n / 2 {
            theirs_old.push(leaf_data(i));
        }
    }
    let size = TreeSize(n);
    let root = ours.root();
    assert_eq!(root.as_bytes()[..], theirs.root().as_bytes()[..]);
    let idx = 765_432u64;
    let mut g = c.benchmark_group("proofs/1M");

    g.bench_function("inclusion gen/audit-core", |b| b.iter(|| inclusion_proof(&ours, black_box(idx), size).unwrap()));
    g.bench_function("inclusion gen/ct-merkle", |b| b.iter(|| theirs.prove_inclusion(black_box(idx as usize))));
    let proof = inclusion_proof(&ours, idx, size).unwrap();
    let their_proof = theirs.prove_inclusion(idx as usize);
    let their_root = theirs.root();
    let data = leaf_data(idx);
    g.bench_function("inclusion verify (incl. leaf hash)/audit-core", |b| {
        b.iter(|| verify_inclusion(idx, size, &leaf_hash(black_box(&data)), &proof, &root).unwrap())
    });
    g.bench_function("inclusion verify (incl. leaf hash)/ct-merkle", |b| {
        b.iter(|| their_root.verify_inclusion(black_box(&data), idx, &their_proof).unwrap())
    });

    let old = TreeSize(n / 2);
    let old_root = ours.root_at(old).unwrap();
    g.bench_function("consistency gen/audit-core", |b| {
        b.iter(|| consistency_proof(&ours, black_box(old), size).unwrap())
    });
    g.bench_function("consistency gen/ct-merkle", |b| b.iter(|| theirs.prove_consistency(black_box((n / 2) as usize))));
    let cproof = consistency_proof(&ours, old, size).unwrap();
    let their_cproof = theirs.prove_consistency((n / 2) as usize);
    let their_old_root = theirs_old.root();
    g.bench_function("consistency verify/audit-core", |b| {
        b.iter(|| verify_consistency(old, size, &old_root, &root, black_box(&cproof)).unwrap())
    });
    g.bench_function("consistency verify/ct-merkle", |b| {
        b.iter(|| their_root.verify_consistency(&their_old_root, black_box(&their_cproof)).unwrap())
    });

    let (start, end) = (400_000u64, 400_100u64);
    let leaves: Vec<Hash> = (start..end).map(|i| ours.leaf(i).unwrap()).collect();
    g.bench_function("range[100] gen/audit-core", |b| {
        b.iter(|| range_proof(&ours, black_box(start), end, size).unwrap())
    });
    let rproof = range_proof(&ours, start, end, size).unwrap();
    g.bench_function("range[100] verify/audit-core", |b| {
        b.iter(|| verify_range(start, end, size, &leaves, black_box(&rproof), &root).unwrap())
    });
    g.finish();
}

fn proofs_1b(c: &mut Criterion) {
    let leaf = leaf_hash(b"uniform");
    let src = UniformTree::new(leaf);
    let size = TreeSize(BILLION);
    let root = root_from_source(&src, size).unwrap();
    let idx = 765_432_109u64;
    let mut g = c.benchmark_group("proofs/1B (synthetic source; ct-merkle cannot hold it)");
    g.bench_function("inclusion gen/audit-core", |b| b.iter(|| inclusion_proof(&src, black_box(idx), size).unwrap()));
    let proof = inclusion_proof(&src, idx, size).unwrap();
    g.bench_function("inclusion verify/audit-core", |b| {
        b.iter(|| verify_inclusion(idx, size, &leaf, black_box(&proof), &root).unwrap())
    });
    let old = TreeSize(BILLION / 2 + 12_345);
    let old_root = root_from_source(&src, old).unwrap();
    g.bench_function("consistency gen/audit-core", |b| {
        b.iter(|| consistency_proof(&src, black_box(old), size).unwrap())
    });
    let cproof = consistency_proof(&src, old, size).unwrap();
    g.bench_function("consistency verify/audit-core", |b| {
        b.iter(|| verify_consistency(old, size, &old_root, &root, black_box(&cproof)).unwrap())
    });
    let (start, end) = (idx, idx + 100);
    let leaves = vec![leaf; 100];
    g.bench_function("range[100] gen/audit-core", |b| {
        b.iter(|| range_proof(&src, black_box(start), end, size).unwrap())
    });
    let rproof = range_proof(&src, start, end, size).unwrap();
    g.bench_function("range[100] verify/audit-core", |b| {
        b.iter(|| verify_range(start, end, size, &leaves, black_box(&rproof), &root).unwrap())
    });
    g.finish();
}

/// Verification of an export's rows as `auditstore verify` streams them (JSON Lines parsed,
/// each leaf hash recomputed from its content, the chain re-walked, the range proof fed leaf
/// by leaf), next to SHA-256 alone over the same bytes.
fn export_verification(c: &mut Criterion) {
    use audit_core::export::{
        Counts, EventsFormat, ExportRow, ExportVerifier, Manifest, RangeProofMember, RowHashes, SeqRange,
        EXPORT_FORMAT_V1,
    };
    use audit_core::{Checkpoint, KeyName, VerifierKey};

    const ROWS: u64 = 20_000;
    let ledger = LedgerId::new("acme-prod").unwrap();
    let mut chain = genesis(&ledger);
    let mut lines = Vec::new();
    let mut leaves = Vec::new();
    for n in 0..ROWS {
        let mut input = sample_input();
        input.id = Some(format!("evt_{n:08}"));
        let event = input.into_event(|| EventId::new("x").unwrap()).unwrap();
        let leaf = event.leaf_hash();
        chain = chain_hash(&chain, &leaf);
        leaves.push(leaf);
        lines.push(ExportRow { seq: n, leaf_hash: leaf, chain_hash: chain, event: Some(event) }.to_jsonl().unwrap());
    }
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let tree = MemoryTree::from_leaves(leaves);
    let signing = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let name = KeyName::new("audit.example.com").unwrap();
    let origin = "audit.example.com/ledgers/acme-prod";
    let checkpoint = Checkpoint::new(origin, TreeSize(ROWS), tree.root()).unwrap().sign(&name, &signing).unwrap();
    let key = VerifierKey::new(name, signing.verifying_key());
    let manifest = Manifest {
        format: EXPORT_FORMAT_V1.into(),
        export_id: "exp_bench".into(),
        ledger: ledger.to_string(),
        origin: origin.into(),
        created_at: "2026-12-02T10:00:00.000Z".into(),
        events_format: EventsFormat::Jsonl,
        range: SeqRange { start: 0, end: ROWS },
        filter: None,
        tree_size: ROWS,
        counts: Counts { events: ROWS, tombstones: 0 },
        members: Default::default(),
    };
    let proof = RangeProofMember {
        kind: "range".into(),
        start: 0,
        end: ROWS,
        tree_size: ROWS,
        chain_hash_before: genesis(&ledger),
        hashes: range_proof(&tree, 0, ROWS, TreeSize(ROWS)).unwrap(),
    };

    let mut g = c.benchmark_group(format!("export/{ROWS} rows of {} bytes", bytes / ROWS as usize));
    g.throughput(Throughput::Elements(ROWS));
    g.sample_size(10);
    g.bench_function("verify (parse + leaf hash + chain + range proof)", |b| {
        b.iter(|| {
            let mut v =
                ExportVerifier::new(manifest.clone(), &checkpoint, std::slice::from_ref(&key), Some(proof.clone()))
                    .unwrap();
            for line in &lines {
                v.row(&RowHashes::from_jsonl(line).unwrap(), None).unwrap();
            }
            v.finish().unwrap()
        })
    });
    g.bench_function("verify, each row read in full (metadata parsed and canonicalised)", |b| {
        b.iter(|| {
            let mut v =
                ExportVerifier::new(manifest.clone(), &checkpoint, std::slice::from_ref(&key), Some(proof.clone()))
                    .unwrap();
            for line in &lines {
                v.row(&ExportRow::from_jsonl(line).unwrap().hashes(), None).unwrap();
            }
            v.finish().unwrap()
        })
    });
    g.bench_function("baseline: SHA-256 of the same bytes", |b| {
        b.iter(|| {
            use sha2::Digest as _;
            let mut h = Sha256::new();
            for line in &lines {
                h.update(line.as_bytes());
                h.update(b"\n");
            }
            h.finalize()
        })
    });
    g.finish();
}

criterion_group!(benches, event_hashing, chain_verification, merkle_append, proofs_1m, proofs_1b, export_verification);
criterion_main!(benches);
