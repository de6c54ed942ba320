import numpy as np
import pytest
import torch
from transformers import DistilBertTokenizerFast

from common.batching import EncodedDataset, make_eval_loader, make_train_loader
from common.checkpoint import find_checkpoint
from common.training_steps import EarlyStopping, predict
from common.optim import build_optimizer


class Echo(torch.nn.Module):
    """Logits that encode the first token id, to check prediction order."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2, 2))
        self.bias = torch.nn.Parameter(torch.zeros(2))

    def forward(self, input_ids, attention_mask=None, **_):
        return type("Out", (), {"logits": input_ids[:, :1].float().repeat(1, 2)})()


@pytest.fixture
def tokenizer(tiny_model_dir):
    return DistilBertTokenizerFast.from_pretrained(tiny_model_dir)


def make_dataset(n=37, seed=0):
    rng = np.random.default_rng(seed)
    ids = [[int(i) + 10] + [5] * int(rng.integers(1, 20)) for i in range(n)]
    return EncodedDataset({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids]}, [i % 3 for i in range(n)])


def test_predict_returns_dataset_order_despite_length_sorted_batches(tokenizer):
    dataset = make_dataset()
    loader = make_eval_loader(dataset, tokenizer, batch_size=4)
    assert list(loader.sampler) != list(range(len(dataset)))  # batches really are reordered
    logits, labels = predict(Echo(), loader, torch.device("cpu"), progress=False)
    assert logits[:, 0].tolist() == [float(i + 10) for i in range(len(dataset))]
    assert labels.tolist() == dataset.labels


def test_length_grouped_batches_cover_every_example_and_depend_on_epoch(tokenizer):
    dataset = make_dataset(100)
    loader = make_train_loader(dataset, tokenizer, batch_size=8, seed=3)
    orders = []
    for epoch in (0, 1, 0):
        loader.batch_sampler.set_epoch(epoch)
        orders.append([index for batch in loader.batch_sampler for index in batch])
    assert sorted(orders[0]) == list(range(100))
    assert orders[0] == orders[2] and orders[0] != orders[1]
    padded = sum(batch["input_ids"].numel() for batch in loader)  # sampler is at epoch 0
    random_loader = make_train_loader(dataset, tokenizer, batch_size=8, seed=3, group_by_length=False)
    assert padded < sum(batch["input_ids"].numel() for batch in random_loader)  # less padding


def test_no_weight_decay_on_biases_and_norms():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    groups = build_optimizer(model, 1e-3, 0.01).param_groups
    assert [len(g["params"]) for g in groups] == [1, 3] and [g["weight_decay"] for g in groups] == [0.01, 0.0]


def test_adamw_kernel_follows_fused_adamw_and_both_kernels_step_alike():
    torch.manual_seed(0)
    models = [torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)]
    models[1].load_state_dict(models[0].state_dict())
    fused, foreach = build_optimizer(models[0], 1e-2, 0.01), build_optimizer(models[1], 1e-2, 0.01, fused=False)
    assert fused.defaults["fused"] and not fused.defaults["foreach"]  # torch has a fused CPU kernel since 2.4
    assert foreach.defaults["foreach"] and not foreach.defaults["fused"]
    inputs = torch.randn(8, 4)
    for _ in range(3):
        for model, optimizer in zip(models, (fused, foreach)):
            optimizer.zero_grad()
            model(inputs).pow(2).sum().backward()
            optimizer.step()
    torch.testing.assert_close(models[0].weight, models[1].weight)


def test_early_stopping():
    stopper = EarlyStopping(patience=2)
    assert [stopper.update(v, e) for e, v in enumerate([0.5, 0.6, 0.6, 0.55], 1)] == [True, True, False, False]
    assert stopper.should_stop and stopper.best_epoch == 2
    assert not EarlyStopping(patience=0).should_stop


def test_find_checkpoint_falls_back_to_the_previous_copy(tmp_path):
    (tmp_path / "last.old").mkdir()
    (tmp_path / "last.old" / "config.json").write_text("{}")
    assert find_checkpoint(tmp_path / "last") == tmp_path / "last.old"
    assert find_checkpoint(tmp_path / "best") is None


def test_gradient_accumulation_equals_one_large_batch():
    from types import SimpleNamespace

    from torch.utils.data import DataLoader

    from common.training_steps import StepSettings, train_one_epoch
    from common.optim import build_scheduler

    torch.manual_seed(0)
    data = [{"x": torch.randn(4), "labels": torch.tensor(i % 3)} for i in range(16)]

    class Linear(torch.nn.Linear):  # takes the batch's keywords and returns `.logits`, as the models do
        def forward(self, x):
            return SimpleNamespace(logits=super().forward(x))

    def one_epoch(batch_size, accumulation):
        torch.manual_seed(1)
        model = Linear(4, 3)
        optimizer = build_optimizer(model, 0.1, 0.01)
        scheduler = build_scheduler(optimizer, "constant", total_steps=1, warmup_ratio=0.0)
        stats = train_one_epoch(model, DataLoader(data, batch_size=batch_size), optimizer, scheduler,
                                torch.device("cpu"), StepSettings(grad_accum_steps=accumulation, max_grad_norm=0.5,
                                                                  progress=False))
        return model, stats

    big, big_stats = one_epoch(16, 1)
    small, small_stats = one_epoch(8, 2)
    assert big_stats["steps"] == small_stats["steps"] == 1
    torch.testing.assert_close(big.weight, small.weight)
    torch.testing.assert_close(big.bias, small.bias)
    assert big_stats["train_loss"] == pytest.approx(small_stats["train_loss"])


def test_on_step_gets_the_mean_loss_of_each_logging_window():
    from types import SimpleNamespace

    from torch.utils.data import DataLoader

    from common.training_steps import StepSettings, train_one_epoch
    from common.optim import build_scheduler

    torch.manual_seed(0)
    data = [{"x": torch.randn(4), "labels": torch.tensor(i % 3)} for i in range(20)]

    class Linear(torch.nn.Linear):
        def forward(self, x):
            return SimpleNamespace(logits=super().forward(x))

    model = Linear(4, 3)
    optimizer = build_optimizer(model, 0.0, 0.0)  # learning rate 0: every batch's loss stays computable below
    scheduler = build_scheduler(optimizer, "constant", total_steps=1, warmup_ratio=0.0)
    logged = []
    stats = train_one_epoch(model, DataLoader(data, batch_size=2), optimizer, scheduler, torch.device("cpu"),
                            StepSettings(progress=False), on_step=lambda *call: logged.append(call), log_every=4,
                            first_step=2)
    with torch.no_grad():
        losses = [torch.nn.functional.cross_entropy(model(x=torch.stack([d["x"] for d in data[i:i + 2]])).logits,
                                                    torch.stack([d["labels"] for d in data[i:i + 2]])).item()
                  for i in range(0, 20, 2)]
    # steps 3..12 of the run: calls at 4, 8 and 12, each with the mean loss since the last call
    assert [step for step, _, _ in logged] == [4, 8, 12] and stats["steps"] == 10
    assert [loss for _, loss, _ in logged] == pytest.approx(
        [sum(losses[0:2]) / 2, sum(losses[2:6]) / 4,
         sum(losses[6:10]) / 4])


def test_evaluation_leaves_the_training_random_stream_alone(tiny_model_dir):
    from common.batching import encode_texts, make_eval_loader
    from common.training_steps import predict
    from common.models import load_classifier, load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    model = load_classifier(str(tiny_model_dir), ["a", "b"])
    loader = make_eval_loader(encode_texts(tokenizer, ["nokia net profit rose"] * 5, [0] * 5, 16), tokenizer, 2)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    predict(model, loader, torch.device("cpu"), progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_parameter_groups_give_named_parts_their_own_learning_rate():
    from common.optim import build_optimizer

    model = torch.nn.ModuleDict({"encoder": torch.nn.Linear(4, 4), "head": torch.nn.Linear(4, 2)})
    model["encoder"].bias.requires_grad_(False)  # frozen parameters are left out
    optimizer = build_optimizer(model, 1e-5, 0.01, learning_rates={"head.": 1e-3})
    by_param = {id(p): (g.get("lr"), g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    assert by_param[id(model["head"].weight)] == (1e-3, 0.01) and by_param[id(model["head"].bias)] == (1e-3, 0.0)
    assert by_param[id(model["encoder"].weight)] == (1e-5, 0.01)
    assert id(model["encoder"].bias) not in by_param


def test_an_epoch_counts_its_tokens_and_names_the_parts_of_a_step_for_the_profiler(tokenizer):
    from types import SimpleNamespace

    from torch.profiler import profile

    from common.training_steps import StepSettings, train_one_epoch
    from common.optim import build_scheduler

    class MeanEmbedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.out = torch.nn.Embedding(64, 4), torch.nn.Linear(4, 3)

        def forward(self, input_ids, attention_mask):
            mask = attention_mask[..., None].float()
            return SimpleNamespace(logits=self.out((self.embed(input_ids) * mask).sum(1) / mask.sum(1)))

    dataset = make_dataset()
    loader = make_train_loader(dataset, tokenizer, batch_size=8, seed=0, group_by_length=False)
    loader.batch_sampler.set_epoch(0)
    padded = sum(batch["input_ids"].numel() for batch in loader)
    model = MeanEmbedding()
    optimizer = build_optimizer(model, 0.1, 0.0)
    scheduler = build_scheduler(optimizer, "constant", total_steps=5, warmup_ratio=0.0)
    with profile() as prof:
        stats = train_one_epoch(model, loader, optimizer, scheduler, torch.device("cpu"), StepSettings(progress=False))
    assert stats["tokens"] == sum(len(ids) for ids in dataset.encodings["input_ids"])
    assert stats["padded_tokens"] == padded > stats["tokens"]  # random batches of mixed lengths pad
    counts = {event.key: event.count for event in prof.key_averages()}
    for part in ("step.data", "step.to_device", "step.forward", "step.backward"):
        assert counts.get(part) == stats["steps"] == 5, part
    assert counts.get("step.optimizer") == 5


def test_test_sets_sharing_sentences_are_scored_once_with_each_sets_own_labels(tiny_config):
    from transformers import AutoModelForSequenceClassification

    from common.training_steps import evaluate
    from common.evaluation import POOL, Evaluator, encode_examples
    from phase1_financial_phrasebank.data import load_splits

    cfg = tiny_config(train_agreement="AllAgree")
    splits = load_splits(cfg)
    tokenizer = DistilBertTokenizerFast.from_pretrained(cfg.model_name_or_path)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(cfg.model_name_or_path, num_labels=3).eval()
    evaluator = Evaluator(splits, tokenizer, cfg, torch.device("cpu"), None)
    sets = {"test": splits.test, **{k: v for k, v in splits.extra_tests.items() if v is not splits.test}}
    distinct = {e.text for examples in sets.values() for e in examples}
    assert set(evaluator.pooled) == set(sets) and len(evaluator.loaders[POOL].dataset) == len(distinct)
    assert len(distinct) < sum(len(v) for v in sets.values())  # the levels share sentences
    pooled = evaluator.run_all(model, list(sets))
    for name, examples in sets.items():  # the same scores as each set encoded and scored on its own
        own = make_eval_loader(encode_examples(tokenizer, examples, cfg.max_length), tokenizer, 8)
        metrics, logits = evaluate(model, own, torch.device("cpu"), splits.label_names, progress=False)
        np.testing.assert_allclose(pooled[name][1], logits, atol=1e-5)
        assert pooled[name][0]["n"] == len(examples) and pooled[name][0]["f1_macro"] == metrics["f1_macro"]
        assert pooled[name][0]["loss"] == pytest.approx(metrics["loss"], abs=1e-6)
