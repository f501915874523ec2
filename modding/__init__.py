"""The modding tool: style packs (`reverie styles`), captures (`reverie capture`: record,
info, replay), offline rendering (`reverie render`) and fine-tuning a look on a game's own
frames (`reverie finetune`). Built on the bridge (its client, capture and pack formats) and
the model; neither of them imports it."""
