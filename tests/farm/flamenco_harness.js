// SPDX-License-Identifier: GPL-3.0-or-later
//
// A stand-in for Flamenco Manager's job compiler, to run a job type script under Node.
//
//   node flamenco_harness.js describe SCRIPT.js             -> the job type, as JSON
//   node flamenco_harness.js compile SCRIPT.js JOB.json     -> the compiled job, as JSON
//
// JOB.json is a SubmittedJob as POST /api/v3/jobs takes it (name, type, priority, settings,
// metadata, submitter_platform). What the script sees follows the Manager (Flamenco 3.x,
// internal/manager/job_compilers): the script runs in strict mode in a VM whose globals are
// JOB_TYPE/compileJob's world only (no console, no Node modules); Go names reach it
// uncapitalised (job.addTask, task.addCommand, task.uUID); job.settings holds exactly what was
// submitted (the Manager fills in no defaults); author.Command copies its parameters when
// called, and job.addTask copies the task when called, so commands or dependencies added to a
// task after job.addTask are lost, as in the Manager. Anything the real API does not have
// fails loudly: reading or setting an unknown property of job, task, command or author throws,
// and so does calling a global that Flamenco has but this harness does not implement.
// Everything print() or alert() says goes to stderr; stdout is only the JSON.

"use strict";

const crypto = require("crypto");
const fs = require("fs");
const nodePath = require("path");
const vm = require("vm");

const SETTING_KEYS = new Set(["key", "type", "subtype", "choices", "propargs", "description",
    "label", "default", "eval", "evalInfo", "visible", "required", "editable"]);
const SETTING_TYPES = new Set(["string", "int32", "float", "bool"]);
const SUBTYPES = new Set(["file_path", "dir_path", "file_name", "hashed_file_path"]);
const VISIBILITY = new Set(["visible", "hidden", "submission", "web"]);
const JOB_TYPE_KEYS = new Set(["label", "description", "settings"]);

class HarnessError extends Error {}

function fail(message) {
    throw new HarnessError(message);
}

// An object whose every unknown property is an error, read or written.
function strict(what, target, writable) {
    return new Proxy(target, {
        get(obj, prop) {
            if (typeof prop === "symbol" || prop in Object.prototype) return obj[prop];
            if (!Object.prototype.hasOwnProperty.call(obj, prop)) {
                fail(`${what} has no property "${prop}" in Flamenco's job compiler API`);
            }
            return obj[prop];
        },
        set(obj, prop, value) {
            if (!writable.has(prop)) {
                fail(`${what}.${String(prop)} cannot be set in Flamenco's job compiler API`);
            }
            obj[prop] = value;
            return true;
        },
    });
}

function notImplemented(name) {
    return function () {
        fail(`${name} exists in Flamenco's job compiler but this harness does not ` +
             "implement it; the job type must not need it (or implement it here faithfully)");
    };
}

function jsonCopy(value, where) {
    const text = JSON.stringify(value, (key, v) => {
        if (typeof v === "function" || v === undefined || typeof v === "bigint" ||
                (typeof v === "number" && !isFinite(v))) {
            fail(`${where}: ${key || "the value"} is ${String(v)}, which Flamenco cannot store`);
        }
        return v;
    });
    return JSON.parse(text);
}

// The Manager's `author` module: author.Task(name, type), author.Command(name, params, steps).
function makeAuthor(registry) {
    function Task(name, type) {
        name = String(name === undefined ? "" : name).trim();
        type = String(type === undefined ? "" : type).trim();
        if (name === "") fail("author.Task(name, type): name is required");
        if (type === "") fail("author.Task(name, type): type is required");
        const data = {
            uUID: crypto.randomUUID(), name: name, type: type, priority: 50,
            commands: [], dependencies: [],
        };
        data.addCommand = function (command) {
            const cmd = registry.commands.get(command);
            if (cmd === undefined) fail("task.addCommand() takes what author.Command() made");
            data.commands.push(cmd);
            if (registry.added.has(task)) {
                process.stderr.write(`harness: warning: a command was added to task ` +
                    `"${name}" after job.addTask(); the Manager drops it\n`);
            }
        };
        data.addDependency = function (other) {
            const dep = registry.tasks.get(other);
            if (dep === undefined) fail("task.addDependency() takes what author.Task() made");
            data.dependencies.push(dep);
            if (registry.added.has(task)) {
                process.stderr.write(`harness: warning: a dependency was added to task ` +
                    `"${name}" after job.addTask(); the Manager drops it\n`);
            }
        };
        const task = strict(`task "${name}"`, data, new Set(["name", "type", "priority"]));
        registry.tasks.set(task, data);
        return task;
    }

    function Command(name, parameters, totalStepCount) {
        if (typeof name !== "string" || name === "") fail("author.Command(name, ...): no name");
        if (parameters === null || typeof parameters !== "object" || Array.isArray(parameters)) {
            fail(`author.Command("${name}", parameters): parameters must be an object`);
        }
        if (totalStepCount !== undefined && !Number.isInteger(totalStepCount)) {
            fail(`author.Command("${name}", ..., totalStepCount): a whole number or nothing`);
        }
        const data = {
            name: name,
            parameters: jsonCopy(parameters, `author.Command("${name}")`),
            totalStepCount: totalStepCount === undefined ? 0 : totalStepCount,
        };
        const command = strict(`command "${name}"`, data, new Set());
        registry.commands.set(command, data);
        return command;
    }

    return strict("author", { Task: Task, Command: Command }, new Set());
}

function loadScript(scriptPath, registry) {
    const source = fs.readFileSync(scriptPath, "utf8");
    const say = (label) => function (...args) {
        process.stderr.write(`${label}: ${args.map(String).join(" ")}\n`);
    };
    const globals = {
        print: say("print"),
        alert: say("alert"),
        author: makeAuthor(registry),
        path: strict("path", {
            basename: notImplemented("path.basename"), dirname: notImplemented("path.dirname"),
            join: notImplemented("path.join"), stem: notImplemented("path.stem"),
        }, new Set()),
        process: strict("process", {
            cwd: notImplemented("process.cwd"), platform: process.platform,
        }, new Set()),
        frameChunker: notImplemented("frameChunker"),
        frameCount: notImplemented("frameCount"),
        formatTimestampLocal: notImplemented("formatTimestampLocal"),
        shellSplit: notImplemented("shellSplit"),
        require: notImplemented("require"),
    };
    const context = vm.createContext(globals);
    // V8 gives every context these; goja, the Manager's engine, has no console, and a job
    // type must not lean on the others either.
    vm.runInContext("for (const name of ['console', 'Intl', 'WebAssembly', " +
                    "'SharedArrayBuffer', 'Atomics', 'FinalizationRegistry', 'WeakRef']) " +
                    "delete globalThis[name];", context);
    // The Manager compiles scripts in strict mode; the directive shares line 1 with the
    // script's own first line, so error line numbers stay the file's.
    new vm.Script('"use strict"; ' + source, { filename: scriptPath }).runInContext(context);
    return context;
}

function jobTypeName(scriptPath) {
    return nodePath.basename(scriptPath, nodePath.extname(scriptPath)).replace(/_/g, "-");
}

// JOB_TYPE as GET /api/v3/jobs/type/{name} reports it, checked against AvailableJobType.
function describe(scriptPath, context) {
    const jobType = vm.runInContext("typeof JOB_TYPE === 'undefined' ? undefined : JOB_TYPE",
                                    context);
    if (jobType === undefined) fail("the script does not define a JOB_TYPE object");
    for (const key of Object.keys(jobType)) {
        if (!JOB_TYPE_KEYS.has(key)) fail(`JOB_TYPE.${key} is not part of AvailableJobType`);
    }
    if (typeof jobType.label !== "string" || jobType.label === "") fail("JOB_TYPE needs a label");
    if (!Array.isArray(jobType.settings)) fail("JOB_TYPE.settings must be an array");
    const seen = new Set();
    for (const s of jobType.settings) {
        const where = `JOB_TYPE setting ${JSON.stringify(s.key)}`;
        for (const key of Object.keys(s)) {
            if (!SETTING_KEYS.has(key)) fail(`${where}: "${key}" is not part of AvailableJobSetting`);
        }
        if (typeof s.key !== "string" || s.key === "") fail(`${where}: needs a key`);
        if (seen.has(s.key)) fail(`${where}: the key is used twice`);
        seen.add(s.key);
        if (!SETTING_TYPES.has(s.type)) fail(`${where}: type ${s.type} is not one of Flamenco's`);
        if (s.subtype !== undefined && (!SUBTYPES.has(s.subtype) || s.type !== "string")) {
            fail(`${where}: subtype ${s.subtype} is not a string subtype Flamenco knows`);
        }
        if (s.visible !== undefined && !VISIBILITY.has(s.visible)) {
            fail(`${where}: visible ${s.visible} is not one of Flamenco's`);
        }
        if (s.choices !== undefined && (s.type !== "string" || !Array.isArray(s.choices))) {
            fail(`${where}: choices are a list, only usable with type string`);
        }
        for (const flag of ["required", "editable"]) {
            if (s[flag] !== undefined && typeof s[flag] !== "boolean") {
                fail(`${where}: ${flag} must be true or false`);
            }
        }
    }
    return Object.assign({ name: jobTypeName(scriptPath) }, jsonCopy(jobType, "JOB_TYPE"));
}

// What Service.Compile does with a SubmittedJob: an AuthoredJob handed to compileJob(job).
function compile(scriptPath, context, registry, submitted) {
    for (const key of ["name", "type", "priority", "submitter_platform"]) {
        if (submitted[key] === undefined) fail(`the submitted job has no "${key}" (required)`);
    }
    if (submitted.type !== jobTypeName(scriptPath)) {
        fail(`job type "${submitted.type}" is unknown: this script is "${jobTypeName(scriptPath)}"`);
    }
    describe(scriptPath, context);
    const compileJob = vm.runInContext(
        "typeof compileJob === 'function' ? compileJob : undefined", context);
    if (compileJob === undefined) fail("the script does not define a compileJob(job) function");

    const tasks = [];
    const data = {
        jobID: crypto.randomUUID(),
        workerTagUUID: submitted.worker_tag || "",
        name: submitted.name,
        jobType: submitted.type,
        priority: submitted.priority,
        status: "under-construction",
        // A Go time.Time in the Manager, not a JS Date: only formatTimestampLocal() takes it.
        created: strict("job.created (a Go time.Time)", {}, new Set()),
        settings: Object.assign({}, submitted.settings || {}),
        metadata: Object.assign({}, submitted.metadata || {}),
        storage: strict("job.storage", {
            shamanCheckoutID: (submitted.storage && submitted.storage.shaman_checkout_id) || "",
        }, new Set()),
        tasks: tasks,
    };
    data.addTask = function (task) {
        const t = registry.tasks.get(task);
        if (t === undefined) fail("job.addTask() takes what author.Task() made");
        registry.added.add(task);
        // A copy, as AuthoredJob.AddTask appends *task: later changes to the task are lost.
        tasks.push({
            uuid: t.uUID, name: t.name, type: t.type, priority: t.priority,
            commands: t.commands.slice(), dependencies: t.dependencies.map((d) => d.uUID),
        });
    };
    const job = strict("job", data, new Set(["name", "priority", "status"]));
    try {
        compileJob(job);
    } catch (err) {
        if (err instanceof HarnessError) throw err;
        const text = err instanceof Error ? err.message : String(err);
        process.stderr.write(`compile error: ${text}\n`);
        process.exit(2);
    }
    const known = new Set(tasks.map((t) => t.uuid));
    for (const t of tasks) {
        for (const dep of t.dependencies) {
            if (!known.has(dep)) fail(`task "${t.name}" depends on a task the job never added`);
        }
    }
    return {
        jobID: data.jobID, name: data.name, jobType: data.jobType, priority: data.priority,
        status: data.status, settings: jsonCopy(data.settings, "job.settings"),
        metadata: jsonCopy(data.metadata, "job.metadata"), tasks: tasks,
    };
}

function main(argv) {
    const [what, scriptPath, jobPath] = argv;
    const registry = { tasks: new Map(), commands: new Map(), added: new Set() };
    try {
        if (what === "describe" && scriptPath) {
            const context = loadScript(scriptPath, registry);
            process.stdout.write(JSON.stringify(describe(scriptPath, context), null, 1) + "\n");
        } else if (what === "compile" && scriptPath && jobPath) {
            const submitted = JSON.parse(fs.readFileSync(jobPath, "utf8"));
            const context = loadScript(scriptPath, registry);
            const job = compile(scriptPath, context, registry, submitted);
            process.stdout.write(JSON.stringify(job, null, 1) + "\n");
        } else {
            process.stderr.write("usage: flamenco_harness.js describe SCRIPT | " +
                                 "compile SCRIPT JOB.json\n");
            process.exit(64);
        }
    } catch (err) {
        const kind = err instanceof HarnessError ? "harness" : "script error";
        process.stderr.write(`${kind}: ${err && err.stack ? err.stack : String(err)}\n`);
        process.exit(3);
    }
}

main(process.argv.slice(2));
