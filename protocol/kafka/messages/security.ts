/** SASL authentication, ACLs, SCRAM credentials and client quotas. */
import { array, bool, bytes, float64, int16, int32, int64, int8, message, string } from '../schema.js';

export const SaslHandshakeRequest = message(
  { apiKey: 17, name: 'SaslHandshakeRequest', versions: '0-1', flexible: 'none' },
  { mechanism: string() },
);

export const SaslHandshakeResponse = message(
  { apiKey: 17, name: 'SaslHandshakeResponse', versions: '0-1', flexible: 'none' },
  { errorCode: int16(), mechanisms: array(string()) },
);

export const SaslAuthenticateRequest = message(
  { apiKey: 36, name: 'SaslAuthenticateRequest', versions: '0-2', flexible: '2+' },
  { authBytes: bytes() },
);

export const SaslAuthenticateResponse = message(
  { apiKey: 36, name: 'SaslAuthenticateResponse', versions: '0-2', flexible: '2+' },
  {
    errorCode: int16(),
    errorMessage: string({ nullable: '0+', default: null }),
    authBytes: bytes(),
    sessionLifetimeMs: int64({ versions: '1+' }),
  },
);

const aclFilter = {
  resourceTypeFilter: int8(),
  resourceNameFilter: string({ nullable: '0+' }),
  patternTypeFilter: int8({ versions: '1+', default: 3 }),
  principalFilter: string({ nullable: '0+' }),
  hostFilter: string({ nullable: '0+' }),
  operation: int8(),
  permissionType: int8(),
};

export const DescribeAclsRequest = message(
  { apiKey: 29, name: 'DescribeAclsRequest', versions: '0-3', flexible: '2+' },
  aclFilter,
);

export const DescribeAclsResponse = message(
  { apiKey: 29, name: 'DescribeAclsResponse', versions: '0-3', flexible: '2+' },
  {
    throttleTimeMs: int32(),
    errorCode: int16(),
    errorMessage: string({ nullable: '0+', default: null }),
    resources: array({
      resourceType: int8(),
      resourceName: string(),
      patternType: int8({ versions: '1+', default: 3 }),
      acls: array({ principal: string(), host: string(), operation: int8(), permissionType: int8() }),
    }),
  },
);

export const CreateAclsRequest = message(
  { apiKey: 30, name: 'CreateAclsRequest', versions: '0-3', flexible: '2+' },
  {
    creations: array({
      resourceType: int8(),
      resourceName: string(),
      resourcePatternType: int8({ versions: '1+', default: 3 }),
      principal: string(),
      host: string(),
      operation: int8(),
      permissionType: int8(),
    }),
  },
);

export const CreateAclsResponse = message(
  { apiKey: 30, name: 'CreateAclsResponse', versions: '0-3', flexible: '2+' },
  {
    throttleTimeMs: int32(),
    results: array({ errorCode: int16(), errorMessage: string({ nullable: '0+', default: null }) }),
  },
);

export const DeleteAclsRequest = message(
  { apiKey: 31, name: 'DeleteAclsRequest', versions: '0-3', flexible: '2+' },
  { filters: array(aclFilter) },
);

export const DeleteAclsResponse = message(
  { apiKey: 31, name: 'DeleteAclsResponse', versions: '0-3', flexible: '2+' },
  {
    throttleTimeMs: int32(),
    filterResults: array({
      errorCode: int16(),
      errorMessage: string({ nullable: '0+', default: null }),
      matchingAcls: array({
        errorCode: int16(),
        errorMessage: string({ nullable: '0+', default: null }),
        resourceType: int8(),
        resourceName: string(),
        patternType: int8({ versions: '1+', default: 3 }),
        principal: string(),
        host: string(),
        operation: int8(),
        permissionType: int8(),
      }),
    }),
  },
);

export const DescribeUserScramCredentialsRequest = message(
  { apiKey: 50, name: 'DescribeUserScramCredentialsRequest', versions: '0', flexible: '0+' },
  { users: array({ name: string() }, { nullable: '0+' }) },
);

export const DescribeUserScramCredentialsResponse = message(
  { apiKey: 50, name: 'DescribeUserScramCredentialsResponse', versions: '0', flexible: '0+' },
  {
    throttleTimeMs: int32(),
    errorCode: int16(),
    errorMessage: string({ nullable: '0+', default: null }),
    results: array({
      user: string(),
      errorCode: int16(),
      errorMessage: string({ nullable: '0+', default: null }),
      credentialInfos: array({ mechanism: int8(), iterations: int32() }),
    }),
  },
);

export const AlterUserScramCredentialsRequest = message(
  { apiKey: 51, name: 'AlterUserScramCredentialsRequest', versions: '0', flexible: '0+' },
  {
    deletions: array({ name: string(), mechanism: int8() }),
    upsertions: array({
      name: string(),
      mechanism: int8(),
      iterations: int32(),
      salt: bytes(),
      saltedPassword: bytes(),
    }),
  },
);

export const AlterUserScramCredentialsResponse = message(
  { apiKey: 51, name: 'AlterUserScramCredentialsResponse', versions: '0', flexible: '0+' },
  {
    throttleTimeMs: int32(),
    results: array({ user: string(), errorCode: int16(), errorMessage: string({ nullable: '0+', default: null }) }),
  },
);

const quotaEntity = array({ entityType: string(), entityName: string({ nullable: '0+' }) });

export const DescribeClientQuotasRequest = message(
  { apiKey: 48, name: 'DescribeClientQuotasRequest', versions: '0-1', flexible: '1+' },
  {
    components: array({ entityType: string(), matchType: int8(), match: string({ nullable: '0+' }) }),
    strict: bool(),
  },
);

export const DescribeClientQuotasResponse = message(
  { apiKey: 48, name: 'DescribeClientQuotasResponse', versions: '0-1', flexible: '1+' },
  {
    throttleTimeMs: int32(),
    errorCode: int16(),
    errorMessage: string({ nullable: '0+', default: null }),
    entries: array({ entity: quotaEntity, values: array({ key: string(), value: float64() }) }, { nullable: '0+' }),
  },
);

export const AlterClientQuotasRequest = message(
  { apiKey: 49, name: 'AlterClientQuotasRequest', versions: '0-1', flexible: '1+' },
  {
    entries: array({ entity: quotaEntity, ops: array({ key: string(), value: float64(), remove: bool() }) }),
    validateOnly: bool(),
  },
);

export const AlterClientQuotasResponse = message(
  { apiKey: 49, name: 'AlterClientQuotasResponse', versions: '0-1', flexible: '1+' },
  {
    throttleTimeMs: int32(),
    entries: array({
      errorCode: int16(),
      errorMessage: string({ nullable: '0+', default: null }),
      entity: quotaEntity,
    }),
  },
);
