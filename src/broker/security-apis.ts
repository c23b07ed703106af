/**
 * ACL, SCRAM credential and client quota administration for both doors: changes need ALTER on the cluster and
 * go to the controller, which writes them to the metadata log; descriptions need DESCRIBE on the
 * cluster and are read from this broker's image.
 */
import { AclOperation } from '../../protocol/acl.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import type { BrokerApi } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { aclOf, describeAcls } from '../cluster/acl-control.js';
import type { ControllerClient } from '../cluster/controller-client.js';
import type { MetadataImage } from '../cluster/image.js';
import { describeQuotas } from '../cluster/quota-control.js';
import { describeScram } from '../cluster/scram-control.js';
import type { MessageType } from '../transport/rpc.js';
import type { Access, Caller } from './authorizer.js';

const ADMIN_TIMEOUT_MS = 30_000;

export type Serve = <Req, ResI>(
  name: BrokerApi,
  requestType: MessageType<unknown, Req>,
  responseType: MessageType<ResI, unknown>,
  handler: (request: Req, caller: Caller) => Promise<ResI | null> | ResI | null,
) => void;

export class SecurityApis {
  constructor(
    private readonly access: Access,
    private readonly controller: ControllerClient,
    private readonly image: () => MetadataImage,
  ) {}

  register(serve: Serve): void {
    serve('create_acls', wire.CreateAclsRequest, wire.CreateAclsResponse, (r, c) => this.createAcls(r, c));
    serve('delete_acls', wire.DeleteAclsRequest, wire.DeleteAclsResponse, (r, c) => this.deleteAcls(r, c));
    serve('describe_acls', wire.DescribeAclsRequest, wire.DescribeAclsResponse, (r, c) => this.describeAcls(r, c));
    serve('alter_user_scram', wire.AlterScramRequest, wire.AlterScramResponse, (r, c) => this.alterScram(r, c));
    serve('describe_user_scram', wire.DescribeScramRequest, wire.DescribeScramResponse, (r, c) =>
      this.describeScram(r, c),
    );
    serve('alter_client_quotas', wire.AlterQuotasRequest, wire.AlterQuotasResponse, (r, c) => this.alterQuotas(r, c));
    serve('describe_client_quotas', wire.DescribeQuotasRequest, wire.DescribeQuotasResponse, (r, c) =>
      this.describeQuotas(r, c),
    );
  }

  alterQuotas(req: millrace.IAlterQuotasRequest, caller: Caller): Promise<millrace.AlterQuotasResponse> {
    this.access.requireCluster(caller, AclOperation.ALTER_CONFIGS);
    return this.controller.call(
      'alter_quotas',
      wire.AlterQuotasRequest,
      req,
      wire.AlterQuotasResponse,
      ADMIN_TIMEOUT_MS,
    );
  }

  describeQuotas(req: millrace.IDescribeQuotasRequest, caller: Caller): millrace.IDescribeQuotasResponse {
    this.access.requireCluster(caller, AclOperation.DESCRIBE_CONFIGS);
    return { entries: describeQuotas(this.image(), req) };
  }

  createAcls(req: millrace.ICreateAclsRequest, caller: Caller): Promise<millrace.CreateAclsResponse> {
    this.access.requireCluster(caller, AclOperation.ALTER);
    return this.controller.call('create_acls', wire.CreateAclsRequest, req, wire.CreateAclsResponse, ADMIN_TIMEOUT_MS);
  }

  deleteAcls(req: millrace.IDeleteAclsRequest, caller: Caller): Promise<millrace.DeleteAclsResponse> {
    this.access.requireCluster(caller, AclOperation.ALTER);
    return this.controller.call('delete_acls', wire.DeleteAclsRequest, req, wire.DeleteAclsResponse, ADMIN_TIMEOUT_MS);
  }

  describeAcls(req: millrace.IDescribeAclsRequest, caller: Caller): millrace.IDescribeAclsResponse {
    this.access.requireCluster(caller, AclOperation.DESCRIBE);
    return { acls: describeAcls(this.image(), aclOf(req.filter)) };
  }

  alterScram(req: millrace.IAlterScramRequest, caller: Caller): Promise<millrace.AlterScramResponse> {
    this.access.requireCluster(caller, AclOperation.ALTER);
    return this.controller.call('alter_scram', wire.AlterScramRequest, req, wire.AlterScramResponse, ADMIN_TIMEOUT_MS);
  }

  describeScram(req: millrace.IDescribeScramRequest, caller: Caller): millrace.IDescribeScramResponse {
    this.access.requireCluster(caller, AclOperation.DESCRIBE);
    return describeScram(this.image(), req.users ?? []);
  }
}
