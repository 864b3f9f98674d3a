// SPDX-License-Identifier: GPL-3.0-or-later
//
// Flamenco job type "s2l-bake": bake the lines of a blender_s2l jobs manifest on a farm.
//
// Copy this file into the `scripts/` folder next to the `flamenco-manager` executable (see
// farm/flamenco/README.md). A job is compiled into one task per `rows_per_task` manifest lines,
// each running Blender headless on the extension's batch.py with `--rows A-B`, and a last task
// that merges the tasks' summaries. A task that is killed and run again skips the lines whose
// output is already whole, so every line is baked once.
//
// The Manager cannot read the manifest, so the submitter says which lines it holds (`rows`);
// farm/flamenco/submit.py reads the manifest and fills it in.

const JOB_TYPE = {
    label: "S2L Bake Lines",
    description: "Bake lip sync (blender_s2l) for the lines of a CSV jobs manifest, " +
        "a few lines per Blender task, then merge the tasks' summaries",
    settings: [
        // What to bake, and where the report goes.
        { key: "manifest", label: "Manifest", type: "string", subtype: "file_path",
          required: true, visible: "submission",
          description: "The CSV jobs manifest (object, strip or audio, out, ...), as the " +
              "workers see it; relative paths in it are relative to it" },
        { key: "rows", label: "Rows", type: "string", required: true, visible: "submission",
          description: "Manifest lines to bake, 'A-B' as batch.py --rows counts them: the " +
              "header is line 1, so 100 lines under it are 2-101. submit.py fills it in" },
        { key: "rows_per_task", label: "Rows per Task", type: "int32", default: 20,
          propargs: { min: 1, max: 100000 }, visible: "submission",
          description: "Manifest lines one Blender process bakes; more lines spread its " +
              "start-up over more bakes, fewer lines spread a job over more workers" },
        { key: "summary_dir", label: "Summary Folder", type: "string", subtype: "dir_path",
          required: true, visible: "submission",
          description: "Folder for this job's summaries: rows_A-B.jsonl per task, then " +
              "summary.json from the merge task. Use one folder per manifest" },
        // Where Blender and the extension are on the workers.
        { key: "blender_exe", label: "Blender", type: "string", default: "{blender}",
          visible: "submission",
          description: "Blender executable on the workers; {blender} is the Manager's " +
              "variable for it" },
        { key: "batch_script", label: "batch.py", type: "string", subtype: "file_path",
          required: true, visible: "submission",
          description: "Path of the installed extension's batch.py on the workers, e.g. " +
              "~/.config/blender/5.0/extensions/user_default/blender_s2l/batch.py, or a " +
              "Manager variable such as {s2l_batch}" },
        // Flamenco's Blender add-on fills "blendfile" with the packed .blend it submits.
        { key: "blendfile", label: "Scene", type: "string", subtype: "file_path",
          default: "", visible: "web",
          description: "Optional .blend that every line opens (a line's scene column " +
              "overrides it); empty: each line's scene column" },
        // Bake options: the batch flags. A manifest column of the same name wins per line.
        { key: "mode", label: "Mode", type: "string", default: "COMPACT",
          choices: ["COMPACT", "PER_FRAME", "RIG"], description: "batch --mode" },
        { key: "device", label: "Device", type: "string", default: "AUTO",
          choices: ["AUTO", "CPU", "CUDA"], description: "batch --device" },
        { key: "recognise_words", label: "Recognise Words", type: "string", default: "auto",
          choices: ["auto", "on", "off"],
          description: "Lines without phones or transcript: key poses from the words " +
              "pocketsphinx hears. auto: where pocketsphinx is installed; on: a task fails " +
              "without it; off: --no-recognise-words" },
        { key: "mouth_strength", label: "Mouth Strength", type: "float", default: 1.0,
          propargs: { min: 0.0, max: 3.0 }, description: "batch --mouth-strength" },
        { key: "upper_face", label: "Upper Face", type: "bool", default: true,
          description: "Blinks and brows (off: --no-upper-face)" },
        { key: "seed", label: "Seed", type: "int32", default: 0,
          propargs: { min: 0, max: 2147483647 }, description: "batch --seed" },
        { key: "smoothing", label: "Smoothing", type: "float", default: 0.0,
          propargs: { min: 0.0, max: 1.0 }, description: "batch --smoothing" },
        { key: "lip_closure", label: "Lip Closure", type: "float", default: 1.0,
          propargs: { min: 0.0, max: 1.0 }, description: "batch --lip-closure" },
        { key: "closure_sensitivity", label: "Closure Sensitivity", type: "float",
          default: 0.8, propargs: { min: 0.0, max: 1.0 },
          description: "batch --closure-sensitivity" },
        { key: "rig_map", label: "Rig Map", type: "string", subtype: "file_path", default: "",
          description: "Optional JSON rig name -> shape key for mode RIG (batch --rig-map)" },
        { key: "cache_dir", label: "Cache Folder", type: "string", subtype: "dir_path",
          default: "",
          description: "Optional cache folder (batch --cache-dir); empty: the workers' " +
              "default or $BLENDER_S2L_CACHE" },
        { key: "force", label: "Force", type: "bool", default: false,
          description: "Bake lines again even where their output is already whole " +
              "(a retried task then bakes its lines again too)" },
    ],
};

function compileJob(job) {
    const settings = checkedSettings(job.settings);
    const rows = rowRange(settings.rows);
    const summaryDir = settings.summary_dir.replace(/[\\/]+$/, "");
    const flags = bakeFlags(settings);

    const bakeTasks = [];
    for (let first = rows.first; first <= rows.last; first += settings.rows_per_task) {
        const last = Math.min(first + settings.rows_per_task - 1, rows.last);
        const span = `${first}-${last}`;
        const task = author.Task(`bake-rows-${span}`, "blender");
        task.addCommand(runBatch(settings, settings.blendfile, [
            "--jobs", settings.manifest,
            "--rows", span,
            "--summary", `${summaryDir}/rows_${span}.jsonl`,
        ].concat(flags)));
        job.addTask(task);
        bakeTasks.push(task);
    }

    // The merge needs no scene. Flamenco runs it once every bake task has completed.
    const merge = author.Task("merge-summaries", "blender");
    merge.addCommand(runBatch(settings, "", ["--merge-summaries", summaryDir]));
    for (const task of bakeTasks) {
        merge.addDependency(task);
    }
    job.addTask(merge);
    print(`s2l-bake: manifest lines ${rows.first}-${rows.last} in ${bakeTasks.length} ` +
          `tasks of up to ${settings.rows_per_task} lines, then merge-summaries`);
}

// `blender [{blenderArgs}] -b --python-exit-code 1 [scene.blend] --python batch.py -- ARGS`.
// The worker's blender-render command puts exeArgs, argsBefore, blendfile (left out when
// empty) and args in that order; --python-exit-code makes an uncaught Python error fail the
// task instead of exiting 0. batch.py exits 1 when a line failed and 2 on bad usage.
function runBatch(settings, blendfile, batchArgs) {
    return author.Command("blender-render", {
        exe: settings.blender_exe,
        exeArgs: "{blenderArgs}",
        argsBefore: ["--background", "--python-exit-code", "1"],
        blendfile: blendfile,
        args: ["--python", settings.batch_script, "--"].concat(batchArgs),
    });
}

// The batch flags of the bake options, every value spelled out (the defaults above are
// batch.py's own, which a test holds), except recognise_words "auto": no flag, so batch.py
// decides (on where pocketsphinx is installed).
function bakeFlags(s) {
    const flags = [
        "--mode", s.mode,
        "--device", s.device,
        "--mouth-strength", String(s.mouth_strength),
        "--seed", String(s.seed),
        "--smoothing", String(s.smoothing),
        "--lip-closure", String(s.lip_closure),
        "--closure-sensitivity", String(s.closure_sensitivity),
    ];
    if (s.recognise_words === "on") flags.push("--recognise-words");
    if (s.recognise_words === "off") flags.push("--no-recognise-words");
    if (!s.upper_face) flags.push("--no-upper-face");
    if (s.rig_map !== "") flags.push("--rig-map", s.rig_map);
    if (s.cache_dir !== "") flags.push("--cache-dir", s.cache_dir);
    if (s.force) flags.push("--force");
    return flags;
}

// "A-B" or "N": manifest line numbers as batch.py --rows reads them (the header is line 1).
function rowRange(text) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
    if (m === null) {
        throw `S2L Bake: rows "${text}" is not a range of manifest lines such as 2-101`;
    }
    const first = parseInt(m[1], 10);
    const last = m[2] === undefined ? first : parseInt(m[2], 10);
    if (first < 2 || last < first) {
        throw `S2L Bake: rows "${text}" must run from line 2 or later (the header is ` +
            `line 1) up to a line no lower than its first`;
    }
    return { first: first, last: last };
}

// Every setting of JOB_TYPE, checked; a missing optional one gets its default, written back
// so that the job's page shows what the tasks were given. The Manager checks neither
// requirements nor types before compiling, so a bad job is refused here, at submission.
function checkedSettings(given) {
    const checked = {};
    for (const spec of JOB_TYPE.settings) {
        let value = given[spec.key];
        if (value === undefined || value === null) {
            if (spec.required) {
                throw `S2L Bake: the setting "${spec.key}" is required`;
            }
            value = spec.default;
            given[spec.key] = value;
        }
        const problem = settingProblem(spec, value);
        if (problem !== "") {
            throw `S2L Bake: the setting "${spec.key}" ${problem}`;
        }
        checked[spec.key] = value;
    }
    return checked;
}

function settingProblem(spec, value) {
    switch (spec.type) {
    case "string":
        if (typeof value !== "string") return `must be text, not ${JSON.stringify(value)}`;
        if (spec.required && value.trim() === "") return "must not be empty";
        if (spec.choices && spec.choices.indexOf(value) < 0) {
            return `is "${value}"; it must be one of ${spec.choices.join(", ")}`;
        }
        return "";
    case "bool":
        return typeof value === "boolean" ? "" : `must be true or false, not ${value}`;
    case "int32":
        if (typeof value !== "number" || !Number.isInteger(value)) {
            return `must be a whole number, not ${value}`;
        }
        return rangeProblem(spec, value);
    case "float":
        if (typeof value !== "number" || !isFinite(value)) {
            return `must be a number, not ${value}`;
        }
        return rangeProblem(spec, value);
    default:
        return `has the unknown type ${spec.type}`;
    }
}

function rangeProblem(spec, value) {
    const limits = spec.propargs || {};
    if (limits.min !== undefined && value < limits.min) return `is ${value}, below ${limits.min}`;
    if (limits.max !== undefined && value > limits.max) return `is ${value}, above ${limits.max}`;
    return "";
}
