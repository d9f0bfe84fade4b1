"""The precis package on pyarrow tables, without an emulator: what a notebook user does."""

import pickle

import pyarrow as pa
import pytest

import precis

ARTICLE = (
    "The council met on Monday. It voted to build a new bridge over the river. "
    "Work starts next year. Residents welcomed the news."
)


def articles() -> pa.Table:
    return pa.table({"title": ["Bridge", None], "content": [ARTICLE, "One line only."]})


def test_features_add_the_summaries_tables_columns_and_keep_the_input():
    out = precis.features(articles())
    assert out.column("title").to_pylist() == ["Bridge", None]
    assert out.column("word_count").to_pylist() == [23, 3]
    assert out.column("sentence_count").to_pylist() == [4, 1]
    assert set(out.column("split").to_pylist()) <= {"train", "validation", "test"}


def test_a_summarizer_is_configured_like_precis_run_and_names_itself():
    settings = precis.load_settings(overrides=[("summarizer.sentences", "2")])
    summarizer = precis.Summarizer(settings)
    assert summarizer.id.startswith("extractive:all-minilm-l6-v2@")
    assert ";sentences=2;" in summarizer.id
    out = summarizer.summarize(articles())
    summaries = out.column("summary").to_pylist()
    assert all(s and s in ARTICLE or s == "One line only." for s in summaries)
    assert out.column("summarizer").to_pylist() == [summarizer.id] * 2
    assert out.column("summary_word_count").to_pylist()[1] == 3


def test_summaries_off_write_none_as_the_pipeline_does():
    settings = precis.load_settings(overrides=[("summarizer.kind", "none")])
    out = precis.Summarizer(settings).summarize(articles())
    assert out.column("summarizer").to_pylist() == ["none", "none"]
    assert out.column("summary").to_pylist() == [None, None]


def test_a_table_without_content_is_refused_with_what_it_needs():
    with pytest.raises(RuntimeError, match="a text column named content"):
        precis.features(pa.table({"text": ["x"]}))


def test_an_unknown_setting_is_refused_with_where_to_look():
    with pytest.raises(ValueError, match="precis config"):
        precis.load_settings(overrides=[("summarizer.colour", "red")])


def test_a_backfill_plan_travels_to_workers_as_its_settings_and_plan():
    plan = {
        "job": "j", "app_id": "precis-backfill/j", "version": 3, "target": "lake/summaries",
        "predicate": "TRUE", "summarizer": "none",
        "selection": {"from": None, "to": None, "split": None, "stale": False, "all": True},
        "files": [{"path": "split=train/a.parquet", "size": 10, "rows": 2,
                   "partition": [["split", "train"]]}],
        "processed_at_micros": 1,
    }
    import json
    backfill = precis.Backfill.from_json(precis.load_settings(), json.dumps(plan))
    again = pickle.loads(pickle.dumps(backfill))
    assert again.files == ["split=train/a.parquet"]
    assert again.version == 3 and again.rows_read == 2
