"""Tiny random checkpoints, built from configs and saved with each library's own ``save_pretrained``
(or audiocraft's export), so tests and notebooks run the real loading code offline in seconds.

One module per model: ``wan``, ``ltx``, ``ltx2``, ``cogvideox``, ``hunyuan15``, ``cosmos``, ``cosmos3`` (video),
``audiocraft``, ``musicgen``, ``tts`` (sound) and ``clip`` (the image embedder). Each has a
``build(folder, ...)`` that returns the folder. Nothing here imports torch until ``build`` runs.
"""
